//! What GitOps tools see: the kstatus verdict (the real sigs.k8s.io/cli-utils library,
//! built into tests/testenv) and the Argo CD health (deploy/argocd's Lua check, run by
//! gopher-lua) of live objects at each phase — InProgress/Progressing while work is
//! under way (AWS failing its writes, through the fault proxy), Current/Healthy once
//! Ready, Failed/Degraded for a spec the controller refuses.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::control_plane::Operator;
use crate::support::faults::FaultProxy;
use crate::*;

/// The Argo CD health checks shipped in deploy/argocd, by kind.
fn argocd_checks() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(support::repo_root().join("deploy/argocd/argocd-cm.yaml")).unwrap();
    let config: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    config["data"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, script)| {
            let kind = key
                .strip_prefix("resource.customizations.health.ecsfleet.dev_")
                .unwrap_or_else(|| panic!("unexpected key {key}"));
            (kind.to_string(), script.as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kstatus_and_argocd_read_in_progress_current_and_failed() {
    let checks = argocd_checks();
    assert_eq!(
        checks.keys().collect::<Vec<_>>(),
        ["DaemonService", "IntegrationRole", "ScalingGroup"],
        "a health check for every kind"
    );
    let (plane, emulator, kubeconfig) = prepared();
    let script = plane.dir.path().join("health.lua");
    std::fs::write(&script, &checks["IntegrationRole"]).unwrap();
    let group_script = plane.dir.path().join("group-health.lua");
    std::fs::write(&group_script, &checks["ScalingGroup"]).unwrap();
    let health = |args: &[&str]| plane.argocd_health(&script, args);
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
    let role_args = ["get", "irole", "acme", "-n", "vendors"];
    assert_eq!(health(&role_args).0, "Progressing");

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
    assert_eq!(health(&role_args).0, "Healthy");
    // Reconciling was True; once done it is removed (server-side apply drops what the
    // controller no longer applies), not left False.
    assert_eq!(condition(&object, "Reconciling"), None, "{object}");
    assert_eq!(condition(&object, "Stalled"), None, "{object}");

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
    // `kubectl get -o wide` shows the reason.
    let wide = plane.kubectl_ok(&["get", "irole", "acme", "-n", "vendors", "-o", "wide"]);
    let mut lines = wide.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    let column = header.iter().position(|h| *h == "REASON").expect(&wide);
    assert_eq!(row[column], "InvalidSpec", "{wide}");
    let (status, message) = health(&role_args);
    assert_eq!(status, "Degraded");
    assert!(
        message.starts_with("InvalidSpec: spec.policy.statements[0].actions[0]"),
        "{message}"
    );

    // The example ScalingGroup (with the examples' TenancyPolicy, which grants its
    // lifecycle hook's role), once Ready, is Current too.
    let example = |name: &str| support::repo_root().join(name).display().to_string();
    plane.kubectl_ok(&[
        "apply",
        "-f",
        &example("examples/01-tenancy-policy.yaml"),
        "-f",
        &example("examples/haproxy-scaling-group.yaml"),
    ]);
    // (kstatus calls an object without any status Current, so wait for Ready first.)
    eventually(
        "the ScalingGroup Ready",
        Duration::from_secs(60),
        Some(&operator),
        || {
            Some(json(
                &plane,
                &["get", "asg", "haproxy-staging", "-n", "edge"],
            ))
            .filter(ready_and_current)
        },
    )
    .await;
    let group_args = ["get", "asg", "haproxy-staging", "-n", "edge"];
    assert_eq!(plane.kstatus(&group_args).0, "Current");
    let group = plane.argocd_health(
        &group_script,
        &["get", "asg", "haproxy-staging", "-n", "edge"],
    );
    assert_eq!(group.0, "Healthy", "{group:?}");
    assert!(operator.stop());
}
