//! What GitOps tools see: the kstatus verdict (the real sigs.k8s.io/cli-utils library,
//! built into tests/testenv) of live objects at each phase — InProgress while work is
//! under way (AWS failing its writes, through the fault proxy), Current once Ready,
//! Failed for a spec the controller refuses.

use std::time::Duration;

use crate::support::control_plane::Operator;
use crate::support::faults::FaultProxy;
use crate::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kstatus_reads_in_progress_current_and_failed() {
    let (plane, emulator, kubeconfig) = prepared();
    plane.kubectl_ok(&["create", "namespace", "vendors"]);
    plane.kubectl_ok(&["create", "namespace", "edge"]);
    let proxy = FaultProxy::start(&emulator);
    // Every CreateRole fails with a 500: the role cannot be made yet.
    proxy.configure(1.0, 1, &["error"], Some("CreateRole"));
    let resync = format!("{RESYNC_SECONDS}s");
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &Emulator::attach(&proxy.endpoint),
        plane.dir.path().join("operator.log"),
        &["--resync", &resync],
    );
    let role = r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: IntegrationRole
metadata: {name: acme, namespace: vendors}
spec:
  roleName: AcmeKstatus
  trust: {principals: ["464622532012"], allowWithoutExternalId: true}
  policy:
    statements: [{actions: ["ec2:Describe*"]}]
"#;
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], role)
            .status
            .success()
    );
    let verdict = || plane.kstatus(&["get", "irole", "acme", "-n", "vendors"]);
    let (_, message) = eventually(
        "kstatus InProgress while AWS refuses the writes",
        Duration::from_secs(60),
        Some(&operator),
        || Some(verdict()).filter(|(status, _)| status == "InProgress"),
    )
    .await;
    let object = json(&plane, &["get", "irole", "acme", "-n", "vendors"]);
    assert_eq!(
        condition(&object, "Reconciling").map(|c| c.0),
        Some("True".to_string()),
        "{message}"
    );

    // AWS recovers: Current once Ready.
    proxy.configure(0.0, 1, &["error"], None);
    eventually(
        "kstatus Current once the role is Ready",
        Duration::from_secs(60),
        Some(&operator),
        || Some(verdict()).filter(|(status, _)| status == "Current"),
    )
    .await;
    let object = json(&plane, &["get", "irole", "acme", "-n", "vendors"]);
    assert!(ready_and_current(&object));

    // A spec the API server accepts but the controller refuses: Failed, with the field.
    plane.kubectl_ok(&[
        "patch",
        "irole",
        "acme",
        "-n",
        "vendors",
        "--type=merge",
        "-p",
        r#"{"spec":{"policy":{"statements":[{"actions":["ec2 Describe"]}]}}}"#,
    ]);
    let (_, message) = eventually(
        "kstatus Failed for a refused spec",
        Duration::from_secs(60),
        Some(&operator),
        || Some(verdict()).filter(|(status, _)| status == "Failed"),
    )
    .await;
    assert!(
        message.contains("spec.policy.statements[0].actions[0]"),
        "{message}"
    );

    // The example ScalingGroup, once Ready, is Current too.
    plane.kubectl_ok(&[
        "apply",
        "-f",
        &support::repo_root()
            .join("examples/haproxy-scaling-group.yaml")
            .display()
            .to_string(),
    ]);
    eventually(
        "the ScalingGroup Current",
        Duration::from_secs(60),
        Some(&operator),
        || {
            Some(plane.kstatus(&["get", "asg", "haproxy-staging", "-n", "edge"]))
                .filter(|(status, _)| status == "Current")
        },
    )
    .await;
    assert!(operator.stop());
}
