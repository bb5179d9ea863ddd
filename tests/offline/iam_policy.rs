//! The operator's generated IAM policy grants exactly the AWS operations the controller's
//! code calls (when the namespaces are granted everything; narrower grants leave some
//! out), deploy/iam-policy.json is the one generated for the shipped TenancyPolicy, and
//! deploy/events/install-policy.json grants exactly the operations of `ecsfleet events
//! install` and `uninstall`: a test fails when the code calls an operation its policy
//! lacks, or the policy grants one the code no longer calls.

use std::collections::BTreeSet;
use std::path::Path;

use ecsfleet::tenancy::iam_policy::{operator_policy, operator_policy_json};
use ecsfleet::tenancy::{Grants, TenancyPolicy, TenancyPolicySpec};

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

/// The setup command's sources, whose calls its own policy grants.
const EVENTS_INSTALL: &str = "src/cli/events.rs";

/// Every `<client>.operation()` call in the Rust sources under `dir` (clients named after
/// their service), except those in `excluded`, as `service:Operation` (IAM's action).
fn called_operations(dir: &Path, excluded: &[&Path], found: &mut BTreeSet<String>) {
    let around_dots = regex::Regex::new(r"\s*\.\s*").unwrap();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            called_operations(&path, excluded, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || excluded.contains(&path.as_path()) {
            continue;
        }
        // Method chains joined across lines (`client\n    .operation()`), words kept apart
        // (`match client.operation()`).
        let text = std::fs::read_to_string(&path).unwrap();
        let source = around_dots.replace_all(&text, ".").to_string();
        for service in [
            "ecs",
            "iam",
            "sts",
            "autoscaling",
            "ec2",
            "cloudwatch",
            "sns",
            "sqs",
            "eventbridge",
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
                    found.insert(action(service, &pascal(&name)));
                }
            }
        }
    }
}

/// The IAM action an operation needs: EventBridge's actions are `events:`, SQS's batch
/// operations need the single one's action.
fn action(client: &str, operation: &str) -> String {
    let prefix = if client == "eventbridge" {
        "events"
    } else {
        client
    };
    let operation = match (client, operation) {
        ("sqs", "DeleteMessageBatch") => "DeleteMessage",
        (_, other) => other,
    };
    format!("{prefix}:{operation}")
}

fn granted(policy: &Path) -> BTreeSet<String> {
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(policy).unwrap()).unwrap();
    actions(&policy)
}

fn actions(policy: &serde_json::Value) -> BTreeSet<String> {
    policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter())
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

fn assert_exact(called: &BTreeSet<String>, granted: &BTreeSet<String>) {
    assert!(
        granted.iter().all(|a| !a.contains('*')),
        "no wildcard actions: {granted:?}"
    );
    let missing: Vec<_> = called.difference(granted).collect();
    let unused: Vec<_> = granted.difference(called).collect();
    assert!(
        missing.is_empty(),
        "the code calls operations the policy lacks: {missing:?}"
    );
    assert!(
        unused.is_empty(),
        "the policy grants operations the code never calls: {unused:?}"
    );
}

#[test]
fn the_events_install_policy_grants_exactly_what_install_and_uninstall_call() {
    let root = crate::support::repo_root();
    let mut called = BTreeSet::new();
    called_operations(&root.join("src/cli"), &[], &mut called);
    let install: BTreeSet<String> = called
        .into_iter()
        .filter(|a| a.starts_with("sqs:") || a.starts_with("events:"))
        .collect();
    assert!(install.contains("events:PutRule"), "{install:?}");
    let mut needed = install;
    // Tags given to CreateQueue and PutRule need the tagging actions too.
    needed.extend(["sqs:TagQueue".to_string(), "events:TagResource".to_string()]);
    assert_exact(
        &needed,
        &granted(&root.join("deploy/events/install-policy.json")),
    );
}

#[test]
fn the_iam_policy_grants_exactly_what_the_code_calls() {
    let root = crate::support::repo_root();
    let mut called = BTreeSet::new();
    let install = root.join(EVENTS_INSTALL);
    called_operations(&root.join("src"), &[install.as_path()], &mut called);
    assert!(
        called.contains("ecs:UpdateService")
            && called.contains("iam:CreateRole")
            && called.contains("autoscaling:PutScalingPolicy"),
        "{called:?}"
    );
    called.extend(IMPLIED.iter().map(|a| a.to_string()));

    assert!(called.contains("sqs:ReceiveMessage"), "{called:?}");
    // Everything granted, with and without a required permissions boundary (which takes
    // away the one action that removes it).
    let mut everything = TenancyPolicySpec {
        defaults: Grants::everything(),
        rules: Vec::new(),
    };
    assert_exact(&called, &actions(&operator_policy(&everything)));
    everything.defaults.iam.permissions_boundary_arn =
        "arn:aws:iam::111122223333:policy/boundary".into();
    let bounded = actions(&operator_policy(&everything));
    let removed: Vec<_> = called.difference(&bounded).collect();
    assert_eq!(removed, ["iam:DeleteRolePermissionsBoundary"]);
}

#[test]
fn the_shipped_iam_policy_is_the_one_generated_for_the_shipped_tenancy_policy() {
    let root = crate::support::repo_root();
    let text = std::fs::read_to_string(root.join("deploy/base/tenancy-policy.yaml")).unwrap();
    let policy: TenancyPolicy = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(
        std::fs::read_to_string(root.join("deploy/iam-policy.json")).unwrap(),
        operator_policy_json(&policy.spec),
        "deploy/iam-policy.json is stale: run scripts/generate-crds"
    );
}

/// What the shipped defaults leave out of the operator's policy: no role to pass, none
/// to assume.
#[test]
fn the_safe_defaults_give_the_operator_no_role_to_pass_or_assume() {
    let granted = actions(&operator_policy(&TenancyPolicySpec::default()));
    assert!(!granted.contains("iam:PassRole") && !granted.contains("sts:AssumeRole"));
    let policy = operator_policy(&TenancyPolicySpec::default());
    let star_writes: Vec<_> = policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Resource"] == serde_json::json!(["*"]))
        .flat_map(|s| s["Action"].as_array().unwrap().clone())
        .filter(|a| {
            let name = a.as_str().unwrap().split(':').nth(1).unwrap();
            !["Describe", "Get", "List"]
                .iter()
                .any(|read| name.starts_with(read))
        })
        .collect();
    assert!(
        star_writes.is_empty(),
        "writes on every resource: {star_writes:?}"
    );
}
