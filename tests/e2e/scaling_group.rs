//! ScalingGroup end to end: the example Ready, and its new hosts making its cluster's
//! DaemonServices look again without waiting for their resync.

use std::time::Duration;

use crate::support::control_plane::{ControlPlane, Operator};
use crate::support::{Cluster, Emulator};
use crate::*;

/// A small ScalingGroup whose hosts join the `production` ECS cluster.
const WORKERS: &str = "apiVersion: ecsfleet.dev/v1alpha1
kind: ScalingGroup
metadata: {name: workers, namespace: edge}
spec:
  launchTemplate: {imageId: ami-760aaa0f, instanceType: t3.small}
  minSize: 1
  maxSize: 4
  desiredCapacity: 1
  availabilityZones: [eu-west-1a]
  ecsCluster: production
";

/// The group `workers` (namespace `hosts`) and the DaemonService `agent` (namespace
/// `agents`) Ready, the agent on the group's one host; then, with the agent's resync turn
/// far away, the group grows and a new host joins the cluster: the agent follows at once.
async fn a_new_host_reaches_the_agent(
    plane: &ControlPlane,
    emulator: &Emulator,
    cluster: &Cluster,
    operator: &Operator,
    (agents, hosts): (&str, &str),
    resync: Duration,
) {
    let workers = || json(plane, &["get", "asg", "workers", "-n", hosts]);
    let agent = || json(plane, &["get", "dsvc", "agent", "-n", agents]);
    eventually(
        "the group to become Ready",
        Duration::from_secs(60),
        Some(operator),
        || Some(workers()).filter(ready_and_current),
    )
    .await;
    eventually(
        "the agent on 1 host",
        Duration::from_secs(30),
        Some(operator),
        || Some(agent()).filter(|o| ready_and_current(o) && o["status"]["desiredCount"] == 1),
    )
    .await;

    // The group grows; the new host's ECS agent registers with the cluster.
    plane
        .clear_of_resync_turn(agents, "agent", resync, Duration::from_secs(60))
        .await;
    cluster.add_instance(emulator).await;
    plane.kubectl_ok(&[
        "patch",
        "asg",
        "workers",
        "-n",
        hosts,
        "--type=merge",
        "-p",
        r#"{"spec":{"desiredCapacity":2}}"#,
    ]);
    eventually(
        "the agent to follow the group's new host without waiting for its resync",
        Duration::from_secs(30),
        Some(operator),
        || Some(agent()).filter(|o| o["status"]["desiredCount"] == 2),
    )
    .await;
    assert_eq!(workers()["status"]["instances"]["inService"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaling_groups_new_instances_make_its_clusters_daemon_services_look_again() {
    let (plane, emulator, kubeconfig) = prepared();
    let cluster = Cluster::create(&emulator, "production").await;
    cluster.add_instance(&emulator).await;
    // A resync far beyond the test, and its turn kept away from the join below: only
    // the trigger can make the DaemonService look.
    let resync = Duration::from_secs(600);
    let operator = Operator::start(
        ECSFLEET,
        &kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &["--resync", &format!("{}s", resync.as_secs())],
    );
    plane.kubectl_ok(&["create", "namespace", "edge"]);
    // The API server refuses inconsistent sizes (CEL), naming the fields.
    for (from, to, message) in [
        (
            "maxSize: 4",
            "maxSize: 0",
            "spec.minSize must not exceed spec.maxSize",
        ),
        (
            "desiredCapacity: 1",
            "desiredCapacity: 9",
            "spec.desiredCapacity must lie within",
        ),
    ] {
        let refused = plane.kubectl_input(&["apply", "-f", "-"], &WORKERS.replace(from, to));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && stderr.contains(message),
            "{stderr}"
        );
    }
    let service = daemon_service_yaml("agent", "edge");
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], &service)
            .status
            .success()
    );
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], WORKERS)
            .status
            .success()
    );
    a_new_host_reaches_the_agent(
        &plane,
        &emulator,
        &cluster,
        &operator,
        ("edge", "edge"),
        resync,
    )
    .await;

    // Keyed lists merge by key under server-side apply: a GitOps tool's field manager
    // adds a tag after a client-side apply without a conflict, and the API server itself
    // refuses a key given twice.
    let tagged = WORKERS.replace(
        "  ecsCluster: production\n",
        "  ecsCluster: production\n  tags:\n    - {key: team, value: edge}\n",
    );
    assert!(
        plane
            .kubectl_input(&["apply", "-f", "-"], &tagged)
            .status
            .success()
    );
    let more = tagged.replace(
        "    - {key: team, value: edge}\n",
        "    - {key: team, value: edge}\n    - {key: owner, value: platform}\n",
    );
    let applied = plane.kubectl_input(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "-f",
            "-",
        ],
        &more,
    );
    assert!(
        applied.status.success(),
        "server-side apply after client-side apply: {}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let twice = tagged.replace(
        "    - {key: team, value: edge}\n",
        "    - {key: team, value: edge}\n    - {key: team, value: other}\n",
    );
    let refused = plane.kubectl_input(&["apply", "-f", "-"], &twice);
    assert!(!refused.status.success(), "a tag key twice is refused");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("spec.tags"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // Deleting the object deletes the group (finalizer), the template with it.
    plane.kubectl_ok(&["delete", "asg", "workers", "-n", "edge", "--timeout=60s"]);
    let autoscaling = aws_sdk_autoscaling::Client::new(&emulator.sdk_config().await);
    let groups = autoscaling
        .describe_auto_scaling_groups()
        .auto_scaling_group_names("workers")
        .send()
        .await
        .unwrap();
    assert!(groups.auto_scaling_groups().is_empty());
    assert!(operator.stop());
}

/// With `--shard-key cluster`, two replicas: a ScalingGroup and a DaemonService of its
/// cluster in namespaces that by namespace would belong to different replicas share a
/// shard, so the group's new host reaches the DaemonService without its resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_the_cluster_shard_key_a_groups_hosts_reach_daemon_services_of_other_namespaces() {
    const SHARDS: u32 = 8;
    let members = ["replica-a".to_string(), "replica-b".to_string()];
    // Two namespaces whose objects, sharded by namespace, two different replicas would
    // hold: only the cluster key brings them together.
    let (agents, hosts) = namespaces_of_two_replicas(&members, SHARDS);

    let (plane, emulator, kubeconfig) = prepared();
    let cluster = Cluster::create(&emulator, "production").await;
    cluster.add_instance(&emulator).await;
    let resync = Duration::from_secs(600);
    let (resync_arg, shards_arg) = (format!("{}s", resync.as_secs()), SHARDS.to_string());
    let args = [
        "--resync",
        &resync_arg,
        "--shards",
        &shards_arg,
        "--shard-key",
        "cluster",
    ];
    let replicas: Vec<Operator> = members
        .iter()
        .map(|name| replica(&plane, &emulator, &kubeconfig, name, &args))
        .collect();
    all_ready(&replicas).await;
    for namespace in [&agents, &hosts] {
        plane.kubectl_ok(&["create", "namespace", namespace]);
    }
    let group = WORKERS.replace("namespace: edge", &format!("namespace: {hosts}"));
    for yaml in [daemon_service_yaml("agent", &agents), group] {
        assert!(
            plane
                .kubectl_input(&["apply", "-f", "-"], &yaml)
                .status
                .success()
        );
    }
    a_new_host_reaches_the_agent(
        &plane,
        &emulator,
        &cluster,
        &replicas[0],
        (&agents, &hosts),
        resync,
    )
    .await;
    for replica in replicas {
        assert!(replica.stop());
    }
}
