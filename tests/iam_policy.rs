//! deploy/iam-policy.json grants exactly the AWS operations the code calls: a test fails
//! when the code calls an operation the policy lacks, or the policy grants one the code
//! no longer calls.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

/// Actions the code needs without calling them through a client: `iam:PassRole` (ECS
/// checks it when a task definition names task or execution roles; Auto Scaling for an
/// instance profile or a lifecycle hook's role), `sts:AssumeRole` (made by the SDK's
/// credentials provider for `spec.assumeRoleArn`), `ec2:RunInstances` (checked when a
/// group is created or updated with a launch template), `iam:CreateServiceLinkedRole`
/// (Auto Scaling's own role, made with an account's first group), and the tagging
/// permissions that `PutMetricAlarm` and `CreateTopic` with tags require.
const IMPLIED: &[&str] = &[
    "cloudwatch:TagResource",
    "ec2:RunInstances",
    "iam:CreateServiceLinkedRole",
    "iam:PassRole",
    "sns:TagResource",
    "sts:AssumeRole",
];

fn pascal(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Every `<client>.operation()` call in the sources (clients named after their service),
/// as `service:Operation`.
fn called_operations(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            called_operations(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let source: String = std::fs::read_to_string(&path)
            .unwrap()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        for service in [
            "ecs",
            "iam",
            "sts",
            "autoscaling",
            "ec2",
            "cloudwatch",
            "sns",
        ] {
            for (at, _) in source.match_indices(&format!("{service}.")) {
                let before = source[..at].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    continue; // part of a longer name
                }
                let rest = &source[at + service.len() + 1..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if !name.is_empty() && rest[name.len()..].starts_with("()") {
                    found.insert(format!("{service}:{}", pascal(&name)));
                }
            }
        }
    }
}

#[test]
fn the_iam_policy_grants_exactly_what_the_code_calls() {
    let root = support::repo_root();
    let mut called = BTreeSet::new();
    called_operations(&root.join("src"), &mut called);
    assert!(
        called.contains("ecs:UpdateService")
            && called.contains("iam:CreateRole")
            && called.contains("autoscaling:PutScalingPolicy"),
        "{called:?}"
    );
    called.extend(IMPLIED.iter().map(|a| a.to_string()));

    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("deploy/iam-policy.json")).unwrap(),
    )
    .unwrap();
    let granted: BTreeSet<String> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert!(
        granted.iter().all(|a| !a.contains('*')),
        "no wildcard actions: {granted:?}"
    );
    let missing: Vec<_> = called.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&called).collect();
    assert!(
        missing.is_empty(),
        "the code calls operations the policy lacks: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "the policy grants operations the code never calls: {unused:?}"
    );
}
