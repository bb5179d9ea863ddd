//! Crash consistency: `ecsfleet apply` killed with SIGKILL at every point of an apply
//! (the proxy holds the k-th AWS request, the process is killed while it waits, and the
//! request then reaches AWS as an in-flight one would), then applied to completion.
//! Whatever point it died at, AWS holds exactly one of each thing, a further apply
//! is in sync, and a delete leaves nothing.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::faults::FaultProxy;
use crate::support::{Cluster, Emulator};

fn ecsfleet(proxy: &FaultProxy, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecsfleet"));
    command
        .args(args)
        .envs(proxy.process_env())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs to completion; a retryable failure (an AWS write still settling) is run again,
/// at most three times. Returns stdout.
fn run_ok(proxy: &FaultProxy, args: &[&str]) -> String {
    let mut last = String::new();
    for _ in 0..3 {
        let output = ecsfleet(proxy, args).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).to_string();
        if output.status.success() {
            return stdout;
        }
        last = format!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("ecsfleet {args:?} failed three times:\n{last}");
}

/// Starts an apply with the `at`-th request held, kills it with SIGKILL once the request
/// is held, then lets the request reach AWS. Returns false if the apply finished
/// before making `at` requests.
fn kill_at(proxy: &FaultProxy, file: &Path, at: u64) -> bool {
    proxy.hold(at);
    let mut child: Child = ecsfleet(proxy, &["apply", "-f", file.to_str().unwrap()])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if proxy.held() {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
            proxy.release();
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            // Fewer requests than `at`: nothing is held; clear the hold.
            proxy.hold(u64::MAX);
            return false;
        }
        assert!(Instant::now() < deadline, "request {at} was never held");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// For every point of an apply: kill there, apply to completion, `check` the
/// inventory, check a further apply is in sync, delete, `check_gone`.
async fn every_point<C, G>(proxy: &FaultProxy, file: &Path, check: C, check_gone: G) -> u64
where
    C: AsyncFn(u64),
    G: AsyncFn(u64),
{
    let path = file.to_str().unwrap();
    let mut point = 1;
    loop {
        let killed = kill_at(proxy, file, point);
        run_ok(proxy, &["apply", "-f", path]);
        check(point).await;
        let again = run_ok(proxy, &["apply", "-f", path]);
        assert!(
            again.contains("in sync"),
            "killed at request {point}: a further apply changed something:\n{again}"
        );
        run_ok(proxy, &["delete", "-f", path]);
        check_gone(point).await;
        if !killed {
            eprintln!("{path}: killed at each of {} requests", point - 1);
            return point - 1;
        }
        point += 1;
    }
}

#[tokio::test]
async fn daemon_service_killed_anywhere_converges_to_one_of_each() {
    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "crash").await;
    for _ in 0..2 {
        cluster.add_instance(&emulator).await;
    }
    let proxy = FaultProxy::start(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: agent, namespace: monitoring}
spec:
  cluster: crash
  taskDefinition:
    family: agent-crash
    containerDefinitions:
      - {name: agent, image: "agent:1", memory: 128, essential: true}
"#,
    )
    .unwrap();
    let points = every_point(
        &proxy,
        &file,
        async |point| {
            let service = cluster.service("agent").await;
            let service = service.unwrap_or_else(|| panic!("killed at {point}: no service"));
            assert_eq!(service.desired_count(), 2, "killed at {point}");
            assert_eq!(
                cluster.revisions("agent-crash").await.len(),
                1,
                "killed at {point}: one revision"
            );
        },
        async |point| {
            assert!(
                cluster.service("agent").await.is_none(),
                "killed at {point}"
            );
        },
    )
    .await;
    assert!(points >= 3, "an apply makes several requests: {points}");
}

#[tokio::test]
async fn integration_role_killed_anywhere_converges_to_one_of_each() {
    let emulator = Emulator::start();
    let iam = aws_sdk_iam::Client::new(&emulator.sdk_config().await);
    let proxy = FaultProxy::start(&emulator);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("role.yaml");
    std::fs::write(
        &file,
        r#"
apiVersion: v1
kind: Secret
metadata: {name: vendor-external-id, namespace: monitoring}
stringData: {externalId: Crash-external-id-0123456789}
---
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: vendor, namespace: monitoring}
spec:
  roleName: CrashRole
  trust:
    principals: ["464622532012"]
    externalId: {secretRef: {name: vendor-external-id, key: externalId}}
  policy:
    statements:
      - {actions: ["ec2:Describe*", "cloudwatch:Get*"]}
  managedPolicyArns: [arn:aws:iam::aws:policy/SecurityAudit]
"#,
    )
    .unwrap();
    let inventory = async |iam: &aws_sdk_iam::Client| {
        let roles = iam.list_roles().send().await.unwrap().roles().len();
        let policies = iam
            .list_policies()
            .scope(aws_sdk_iam::types::PolicyScopeType::Local)
            .send()
            .await
            .unwrap()
            .policies()
            .to_vec();
        (roles, policies)
    };
    let points = every_point(
        &proxy,
        &file,
        async |point| {
            let (roles, policies) = inventory(&iam).await;
            assert_eq!((roles, policies.len()), (1, 1), "killed at {point}");
            let versions = iam
                .list_policy_versions()
                .policy_arn(policies[0].arn().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(versions.versions().len(), 1, "killed at {point}");
            let attached = iam
                .list_attached_role_policies()
                .role_name("CrashRole")
                .send()
                .await
                .unwrap();
            assert_eq!(attached.attached_policies().len(), 2, "killed at {point}");
        },
        async |point| {
            let (roles, policies) = inventory(&iam).await;
            assert_eq!((roles, policies.len()), (0, 0), "killed at {point}");
        },
    )
    .await;
    assert!(points >= 5, "an apply makes several requests: {points}");
}

#[tokio::test]
async fn scaling_group_killed_anywhere_converges_to_one_of_each() {
    let emulator = Emulator::start();
    let config = emulator.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let autoscaling = aws_sdk_autoscaling::Client::new(&config);
    let cloudwatch = aws_sdk_cloudwatch::Client::new(&config);
    let sns = aws_sdk_sns::Client::new(&config);
    let proxy = FaultProxy::start(&emulator);
    let file = crate::support::repo_root().join("examples/haproxy-scaling-group.yaml");
    let inventory = async || {
        let templates = ec2.describe_launch_templates().send().await.unwrap();
        let versions = match templates.launch_templates().first() {
            Some(template) => ec2
                .describe_launch_template_versions()
                .launch_template_id(template.launch_template_id().unwrap())
                .send()
                .await
                .unwrap()
                .launch_template_versions()
                .len(),
            None => 0,
        };
        let groups = autoscaling
            .describe_auto_scaling_groups()
            .send()
            .await
            .unwrap();
        let refreshes = match groups.auto_scaling_groups().first() {
            Some(group) => autoscaling
                .describe_instance_refreshes()
                .auto_scaling_group_name(group.auto_scaling_group_name().unwrap())
                .send()
                .await
                .unwrap()
                .instance_refreshes()
                .len(),
            None => 0,
        };
        let alarms = cloudwatch.describe_alarms().send().await.unwrap();
        let topics = sns.list_topics().send().await.unwrap();
        (
            templates.launch_templates().len(),
            versions,
            groups.auto_scaling_groups().len(),
            refreshes,
            alarms.metric_alarms().len(),
            topics.topics().len(),
        )
    };
    // What one clean apply makes.
    let path = file.to_str().unwrap();
    run_ok(&proxy, &["apply", "-f", path]);
    let expected = inventory().await;
    assert_eq!(
        (expected.0, expected.1, expected.2, expected.3, expected.5),
        (1, 1, 1, 0, 1)
    );
    assert!(expected.4 > 0, "the example has alarms");
    run_ok(&proxy, &["delete", "-f", path]);
    let points = every_point(
        &proxy,
        &file,
        async |point| assert_eq!(inventory().await, expected, "killed at {point}"),
        async |point| assert_eq!(inventory().await, (0, 0, 0, 0, 0, 0), "killed at {point}"),
    )
    .await;
    assert!(points >= 10, "an apply makes many requests: {points}");
}
