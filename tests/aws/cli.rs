//! The `ecsfleet` binary as users run it: exit codes, output formats, files and folders.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::{Cluster, Emulator};

fn ecsfleet(emulator: Option<&Emulator>, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecsfleet"));
    command.args(args).env_remove("AWS_PROFILE");
    if let Some(emulator) = emulator {
        command.envs(emulator.process_env());
    }
    command.output().expect("ecsfleet runs")
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

const AGENT: &str = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: agent, namespace: monitoring}
spec:
  cluster: cli
  taskDefinition:
    family: cli-agent
    containerDefinitions: [{name: agent, image: "agent:7", memory: 128}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-ours}
"#;

#[test]
fn the_committed_event_rules_are_the_ones_install_makes() {
    let output = ecsfleet(None, &["events", "rules"]);
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(crate::support::repo_root().join("deploy/events/rules.json"))
            .unwrap();
    assert_eq!(
        committed,
        String::from_utf8(output.stdout).unwrap(),
        "deploy/events/rules.json is stale: ecsfleet events rules > deploy/events/rules.json"
    );
}

#[test]
fn crds_in_the_repository_match_the_generated_ones() {
    let output = ecsfleet(None, &["crds"]);
    assert!(output.status.success());
    let generated = String::from_utf8(output.stdout).unwrap();
    let mut committed: Vec<_> = std::fs::read_dir(crate::support::repo_root().join("crds"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    committed.sort();
    let committed: Vec<String> = committed
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(
        committed.join("---\n"),
        generated,
        "crds/ is stale: run scripts/generate-crds"
    );
    let deploy =
        std::fs::read_to_string(crate::support::repo_root().join("deploy/base/crds.yaml")).unwrap();
    assert_eq!(
        deploy, generated,
        "deploy/base/crds.yaml is stale: run scripts/generate-crds"
    );
    for file in std::fs::read_dir(crate::support::repo_root().join("crds")).unwrap() {
        let file = file.unwrap().path();
        let chart = crate::support::repo_root()
            .join("deploy/helm/ecsfleet/crds")
            .join(file.file_name().unwrap());
        assert_eq!(
            std::fs::read_to_string(&chart).unwrap_or_default(),
            std::fs::read_to_string(&file).unwrap(),
            "{} is stale: run scripts/generate-crds",
            chart.display()
        );
    }
}

#[tokio::test]
async fn plan_apply_plan_delete_with_exit_codes() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "cli").await;
    cluster.add_instance(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "agent.yaml", AGENT);
    let folder = dir.path().display().to_string();

    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &folder]);
    let (stdout, _) = text(&plan);
    assert_eq!(plan.status.code(), Some(2), "changes pending: {stdout}");
    assert!(
        stdout.contains("DaemonService monitoring/agent: 2 change(s) pending"),
        "{stdout}"
    );
    assert!(
        stdout.contains("CreateService service: desiredCount 1"),
        "{stdout}"
    );
    assert!(
        cluster.service("agent").await.is_none(),
        "plan must not write"
    );

    let apply = ecsfleet(Some(&emulator), &["apply", "-f", &folder]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    assert_eq!(cluster.service("agent").await.unwrap().desired_count(), 1);

    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &folder]);
    assert_eq!(plan.status.code(), Some(0), "in sync: {:?}", text(&plan));
    assert!(text(&plan).0.contains("in sync"));

    let delete = ecsfleet(Some(&emulator), &["delete", "-f", &folder]);
    assert_eq!(delete.status.code(), Some(0), "{:?}", text(&delete));
    assert!(cluster.service("agent").await.is_none());
}

#[tokio::test]
async fn json_output_has_the_documented_shape() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "cli").await;
    cluster.add_instance(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "agent.yaml", AGENT);

    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &file, "--output", "json"]);
    assert_eq!(plan.status.code(), Some(2));
    let document: serde_json::Value = serde_json::from_slice(&plan.stdout).unwrap();
    let resource = &document["resources"][0];
    assert_eq!(resource["kind"], "DaemonService");
    assert_eq!(resource["namespace"], "monitoring");
    assert_eq!(resource["name"], "agent");
    let actions: Vec<_> = resource["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap(),
                c["target"].is_string(),
                c["detail"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("RegisterTaskDefinition", true, true),
            ("CreateService", true, true)
        ]
    );
    assert_eq!(
        document["resources"].as_array().unwrap().len(),
        1,
        "the ConfigMap is skipped"
    );

    let apply = ecsfleet(Some(&emulator), &["apply", "-f", &file, "--output", "json"]);
    let document: serde_json::Value = serde_json::from_slice(&apply.stdout).unwrap();
    assert_eq!(document["resources"][0]["status"]["desiredCount"], 1);
    assert!(
        document["resources"][0]["status"]["serviceArn"]
            .as_str()
            .unwrap()
            .contains(":service/cli/agent")
    );
}

#[tokio::test]
async fn invalid_spec_exits_1_with_the_field_and_writes_nothing() {
    let emulator = Emulator::start();
    Cluster::create(&emulator, "cli").await;
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "bad.yaml",
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {name: bad}\nspec:\n  cluster: cli\n  taskDefinition: {arn: 'a:1', family: f}\n",
    );
    let apply = ecsfleet(Some(&emulator), &["apply", "-f", &file]);
    let (_, stderr) = text(&apply);
    assert_eq!(apply.status.code(), Some(1));
    assert!(
        stderr.contains("error: DaemonService default/bad: spec.taskDefinition: set exactly one of arn and family"),
        "{stderr}"
    );
    assert!(stderr.contains("(InvalidSpec)"), "{stderr}");

    // A spec without `cluster` does not even decode: the file and the field are named.
    let file = write(
        dir.path(),
        "nocluster.yaml",
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {name: bad}\nspec:\n  taskDefinition: {arn: 'a:1'}\n",
    );
    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &file]);
    let (_, stderr) = text(&plan);
    assert_eq!(plan.status.code(), Some(1));
    assert!(
        stderr.contains("nocluster.yaml (document 1)")
            && stderr.contains("missing field `cluster`"),
        "{stderr}"
    );

    let unknown = write(
        dir.path(),
        "sched.yaml",
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {name: bad}\nspec:\n  cluster: cli\n  scheduling: Sometimes\n  taskDefinition: {arn: 'a:1'}\n",
    );
    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &unknown]);
    let (_, stderr) = text(&plan);
    assert_eq!(plan.status.code(), Some(1));
    assert!(
        stderr.contains(r#"spec.scheduling: "Sometimes" is not one of "PerInstance", "Daemon""#),
        "{stderr}"
    );
}

#[tokio::test]
async fn orphan_leaves_the_service_in_place() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "cli").await;
    cluster.add_instance(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let orphan = AGENT.replace(
        "  cluster: cli\n",
        "  cluster: cli\n  deletionPolicy: Orphan\n",
    );
    let file = write(dir.path(), "agent.yaml", &orphan);
    assert!(
        ecsfleet(Some(&emulator), &["apply", "-f", &file])
            .status
            .success()
    );
    let delete = ecsfleet(Some(&emulator), &["delete", "-f", &file]);
    assert!(delete.status.success());
    assert!(text(&delete).0.contains("nothing to delete"));
    assert_eq!(cluster.service("agent").await.unwrap().desired_count(), 1);
}

#[test]
fn no_region_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "agent.yaml", AGENT);
    let output = Command::new(env!("CARGO_BIN_EXE_ecsfleet"))
        .args(["plan", "-f", &file])
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output)
            .1
            .contains("no AWS region: set spec.region, --region or AWS_REGION"),
        "{:?}",
        text(&output)
    );
}

#[tokio::test]
async fn scaling_group_plan_apply_orphan_and_delete() {
    let emulator = Emulator::start();
    let autoscaling = aws_sdk_autoscaling::Client::new(&emulator.sdk_config().await);
    let group_exists = || async {
        !autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names("haproxy-staging")
            .send()
            .await
            .unwrap()
            .auto_scaling_groups()
            .is_empty()
    };
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(
        crate::support::repo_root().join("examples/haproxy-scaling-group.yaml"),
    )
    .unwrap();
    let file = write(dir.path(), "group.yaml", &example);

    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &file]);
    let (stdout, _) = text(&plan);
    assert_eq!(plan.status.code(), Some(2), "changes pending: {stdout}");
    assert!(
        stdout.contains("ScalingGroup edge/haproxy-staging: 9 change(s) pending"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PutMetricAlarm alarm/haproxy-staging-haproxy-cpu-high"),
        "{stdout}"
    );
    assert!(!group_exists().await, "plan must not write");

    let apply = ecsfleet(Some(&emulator), &["apply", "-f", &file]);
    assert_eq!(apply.status.code(), Some(0), "{:?}", text(&apply));
    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &file]);
    assert_eq!(plan.status.code(), Some(0), "in sync: {:?}", text(&plan));

    let orphan = example.replace(
        "  ecsCluster: staging\n",
        "  ecsCluster: staging\n  deletionPolicy: Orphan\n",
    );
    let orphan_file = write(dir.path(), "orphan.yaml", &orphan);
    let delete = ecsfleet(Some(&emulator), &["delete", "-f", &orphan_file]);
    assert!(
        text(&delete).0.contains("nothing to delete"),
        "{:?}",
        text(&delete)
    );
    assert!(group_exists().await, "Orphan leaves the group");

    let delete = ecsfleet(Some(&emulator), &["delete", "-f", &file]);
    assert_eq!(delete.status.code(), Some(0), "{:?}", text(&delete));
    assert!(
        text(&delete).0.contains("DeleteAutoScalingGroup"),
        "{:?}",
        text(&delete)
    );
    assert!(!group_exists().await);
}

/// The CLI acts with its user's own AWS identity: it applies a TenancyPolicy only when one
/// is among the files, and then refuses what it does not grant, naming the field and the
/// grant, before any AWS call.
#[tokio::test]
async fn a_tenancy_policy_among_the_files_is_applied_and_only_then() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "cli").await;
    cluster.add_instance(&emulator).await;
    let dir = tempfile::tempdir().unwrap();
    let host_pid = AGENT.replace(
        "    family: cli-agent\n",
        "    family: cli-agent\n    pidMode: host\n",
    );
    let agent = write(dir.path(), "agent.yaml", &host_pid);
    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &agent]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "no policy, nothing restricted: {:?}",
        text(&plan)
    );

    let policy = write(
        dir.path(),
        "policy.yaml",
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: TenancyPolicy\nmetadata: {name: ecsfleet}\nspec: {}\n",
    );
    let plan = ecsfleet(Some(&emulator), &["plan", "-f", &policy, "-f", &agent]);
    let (stdout, stderr) = text(&plan);
    assert_eq!(plan.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains(
            "spec.taskDefinition.pidMode: not granted to this namespace (TenancyPolicy ecsfleet defaults: ecs.hostAccess)"
        ),
        "{stdout}{stderr}"
    );
    // The operator's IAM policy for that TenancyPolicy is printed from the same file.
    let iam = ecsfleet(None, &["iam-policy", "-f", &policy]);
    let printed: serde_json::Value = serde_json::from_slice(&iam.stdout).unwrap();
    assert_eq!(
        printed,
        serde_json::from_str::<serde_json::Value>(
            &std::fs::read_to_string(crate::support::repo_root().join("deploy/iam-policy.json"))
                .unwrap()
        )
        .unwrap(),
        "an empty policy is the shipped defaults"
    );
}
