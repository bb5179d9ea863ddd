//! The operator's generated IAM policy as the public IAM auditors judge it: cloudsplaining
//! (privilege escalation, resource exposure, credentials, unrestricted infrastructure
//! modification) and parliament (among others, an unnecessary `Resource: "*"` and
//! conditions IAM does not document for an action), both from PyPI in the virtual
//! environment scripts/emulator-venv installs. For the shipped defaults, the examples'
//! policy and one that grants everything under a permissions boundary.

use std::path::{Path, PathBuf};
use std::process::Command;

use ecsfleet::tenancy::iam_policy::operator_policy_json;
use ecsfleet::tenancy::{Grants, TenancyPolicy, TenancyPolicySpec};

use crate::support::repo_root;

fn auditor(name: &str) -> PathBuf {
    let path = repo_root().join(".venv/auditors/bin").join(name);
    assert!(
        path.exists(),
        "the IAM auditors are not installed at {}: run scripts/emulator-venv (scripts/test does)",
        path.display()
    );
    path
}

fn policies() -> Vec<(&'static str, TenancyPolicySpec)> {
    let from_file = |path: &str| {
        let text = std::fs::read_to_string(repo_root().join(path)).unwrap();
        serde_yaml_ng::from_str::<TenancyPolicy>(&text)
            .unwrap()
            .spec
    };
    let mut everything = Grants::everything();
    everything.iam.permissions_boundary_arn =
        "arn:aws:iam::111122223333:policy/ecsfleet-boundary".into();
    everything.iam.paths = vec!["/ecsfleet/".into()];
    vec![
        ("shipped", from_file("deploy/base/tenancy-policy.yaml")),
        ("examples", from_file("examples/01-tenancy-policy.yaml")),
        (
            "everything under a boundary",
            TenancyPolicySpec {
                defaults: everything,
                rules: Vec::new(),
            },
        ),
    ]
}

fn write(dir: &Path, name: &str, policy: &TenancyPolicySpec) -> PathBuf {
    let path = dir.join(format!("{}.json", name.replace(' ', "-")));
    std::fs::write(&path, operator_policy_json(policy)).unwrap();
    path
}

#[test]
fn cloudsplaining_finds_nothing_in_the_operator_policy() {
    let dir = tempfile::tempdir().unwrap();
    for (name, policy) in policies() {
        let file = write(dir.path(), name, &policy);
        let output = Command::new(auditor("cloudsplaining"))
            .args(["scan-policy-file", "--input-file"])
            .arg(&file)
            .output()
            .expect("cloudsplaining runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("There were no results found"),
            "{name}: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    // It does find what the policy guards against: the same actions on every resource.
    let open = dir.path().join("open.json");
    std::fs::write(
        &open,
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:CreatePolicyVersion","iam:AttachRolePolicy"],"Resource":"*"}]}"#,
    )
    .unwrap();
    let output = Command::new(auditor("cloudsplaining"))
        .args(["scan-policy-file", "--input-file"])
        .arg(&open)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("Privilege Escalation"));
}

#[test]
fn parliament_finds_nothing_but_actions_newer_than_its_reference() {
    for (name, policy) in policies() {
        let output = Command::new(auditor("parliament"))
            .args(["--json", "--string", &operator_policy_json(&policy)])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("parliament runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let findings: Vec<serde_json::Value> = stdout
            .lines()
            .map(|line| serde_json::from_str(line).expect("parliament prints JSON lines"))
            .collect();
        // ECS Managed Daemons (2026) are newer than parliament's IAM reference.
        let unexplained: Vec<_> = findings
            .iter()
            .filter(|f| {
                !(f["issue"] == "UNKNOWN_ACTION"
                    && f["location"]["string"]
                        .as_str()
                        .is_some_and(|a| a.starts_with("ecs:") && a.contains("Daemon")))
            })
            .collect();
        assert!(unexplained.is_empty(), "{name}: {unexplained:#?}");
    }
    // It does flag what the policy avoids.
    let output = Command::new(auditor("parliament"))
        .args([
            "--json",
            "--string",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iam:GetRole"],"Resource":"*"}]}"#,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("RESOURCE_STAR"));
}
