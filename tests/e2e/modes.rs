//! Scheduling modes end to end: `ecsfleet run` picks a Managed Daemon on a cluster of
//! Managed Instances and Daemon on an Auto Scaling group that ECS scales, and refuses
//! PerInstance there; kubectl and kstatus see the mode, the readiness and the refusal.

use std::time::Duration;

use crate::support::control_plane::Operator;
use crate::support::{self, Cluster};
use crate::*;

fn daemon_service(name: &str, cluster: &str, scheduling: &str) -> String {
    format!(
        r#"
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {{name: {name}, namespace: monitoring}}
spec:
  cluster: {cluster}
  {scheduling}
  taskDefinition:
    family: {name}
    containerDefinitions:
      - {{name: agent, image: "agent:7", memory: 128, essential: true}}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mode_follows_the_cluster_and_per_instance_is_refused_where_ecs_scales() {
    let (plane, emulator, kubeconfig) = prepared();
    let crds = support::repo_root().join("crds").display().to_string();
    plane.kubectl_ok(&["apply", "-f", &crds]);
    plane.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/daemonservices.ecsfleet.dev",
        "--timeout=60s",
    ]);
    plane.kubectl_ok(&["create", "namespace", "monitoring"]);
    let workers = Cluster::create(&emulator, "workers").await;
    support::managed_instances(&emulator, &workers, 2).await;
    support::scaled_cluster(&emulator, "fleet", 3, 10, 80).await;

    let log = plane.dir.path().join("operator.log");
    let resync = format!("{RESYNC_SECONDS}s");
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        log,
        &["--resync", &resync],
    );
    let apply = |yaml: String| {
        let output = plane.kubectl_input(&["apply", "-f", "-"], &yaml);
        assert!(output.status.success(), "{output:?}");
    };
    apply(daemon_service("router", "workers", ""));
    apply(daemon_service("agent", "fleet", ""));
    apply(daemon_service(
        "per-host",
        "fleet",
        "scheduling: PerInstance",
    ));

    let get = |name: &str| json(&plane, &["get", "dsvc", name, "-n", "monitoring"]);
    for (name, mode) in [("router", "ManagedDaemon"), ("agent", "Daemon")] {
        let object = eventually(
            &format!("{name} Ready as a {mode}"),
            Duration::from_secs(60),
            Some(&operator),
            || Some(get(name)).filter(ready_and_current),
        )
        .await;
        assert_eq!(object["status"]["scheduling"], mode, "{object}");
        let (verdict, _) = plane.kstatus(&["get", "dsvc", name, "-n", "monitoring"]);
        assert_eq!(verdict, "Current", "{name}");
    }
    let router = get("router");
    assert_eq!(router["status"]["rolloutState"], "SUCCESSFUL");
    assert_eq!(router["status"]["runningCount"], 2);
    assert!(
        router["status"]["daemonArn"]
            .as_str()
            .is_some_and(|arn| arn.ends_with("/workers/router")),
        "{router}"
    );
    let wide = plane.kubectl_ok(&["get", "dsvc", "-n", "monitoring", "-o", "wide"]);
    assert!(
        wide.lines()
            .any(|l| l.starts_with("router") && l.contains("ManagedDaemon")),
        "{wide}"
    );

    // PerInstance on the group ECS scales: Stalled with the reason, kstatus Failed, and
    // no service.
    let (verdict, message) = eventually(
        "kstatus Failed for PerInstance on a scaled group",
        Duration::from_secs(60),
        Some(&operator),
        || {
            Some(plane.kstatus(&["get", "dsvc", "per-host", "-n", "monitoring"]))
                .filter(|(verdict, _)| verdict == "Failed")
        },
    )
    .await;
    assert_eq!(verdict, "Failed");
    assert!(message.contains("spec.scheduling"), "{message}");
    let refused = get("per-host");
    assert_eq!(
        condition(&refused, "Stalled").map(|c| c.1),
        Some("InvalidSpec".to_string()),
        "{refused}"
    );
    let fleet = Cluster::attach(&emulator, "fleet").await;
    assert!(fleet.service("per-host").await.is_none());

    // Deleting the Managed Daemon's object deletes the daemon.
    plane.kubectl_ok(&[
        "delete",
        "dsvc",
        "router",
        "-n",
        "monitoring",
        "--timeout=60s",
    ]);
    let daemons = workers.ecs.list_daemons().send().await.unwrap();
    assert!(daemons.daemon_summaries_list().is_empty(), "{daemons:?}");
    operator.stop();
}
