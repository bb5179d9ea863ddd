//! End to end on a real Kubernetes control plane (etcd, kube-apiserver and
//! kube-controller-manager built from Kubernetes' Go modules by scripts/testenv-build),
//! with the real kubectl, the AWS emulator, and `ecsfleet run` as a process that
//! authenticates as deploy/'s ServiceAccount: a missing RBAC rule fails this test.
//! One module per kind, and one for operations (install, leader election, shutdown),
//! events, sharding and monitoring (Prometheus's promtool, built with the control plane).
//! Needs Go (scripts/testenv-build) and, for the node's pods, root: `scripts/test` runs it.

#[path = "../support/mod.rs"]
mod support;

mod daemon_service;
mod events;
mod gitops;
mod integration_role;
mod modes;
mod monitoring;
mod node;
mod operations;
mod refusals;
mod scaling_group;
mod sharding;
mod tenancy;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Emulator;
use support::control_plane::{ControlPlane, Operator};

pub(crate) const RESYNC_SECONDS: u64 = 5;
pub(crate) const ECSFLEET: &str = env!("CARGO_BIN_EXE_ecsfleet");

/// Polls `check` until it returns `Some`, or fails with `what` and the operator's log.
pub(crate) async fn eventually<T>(
    what: &str,
    timeout: Duration,
    operator: Option<&Operator>,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        if Instant::now() > deadline {
            let logs = operator.map(|o| o.logs()).unwrap_or_default();
            panic!("timed out after {timeout:?} waiting for {what}\n--- operator log\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

pub(crate) fn json(plane: &ControlPlane, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&plane.kubectl_ok(&all)).expect("kubectl prints JSON")
}

pub(crate) fn agent(plane: &ControlPlane) -> Value {
    json(
        plane,
        &["get", "daemonservice", "datadog-agent", "-n", "monitoring"],
    )
}

pub(crate) fn condition(object: &Value, type_: &str) -> Option<(String, String, String)> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

pub(crate) fn ready_and_current(object: &Value) -> bool {
    let generation = &object["metadata"]["generation"];
    object["status"]["observedGeneration"] == *generation
        && condition(object, "Ready").is_some_and(|c| c.0 == "True")
        && condition(object, "Synced").is_some_and(|c| c.0 == "True")
}

/// A control plane and an emulator with the operator's namespace, ServiceAccount and
/// RBAC from deploy/base installed; returns them with the ServiceAccount's kubeconfig.
pub(crate) fn prepared() -> (ControlPlane, Emulator, std::path::PathBuf) {
    let plane = ControlPlane::start();
    let emulator = Emulator::start();
    let base = support::repo_root().join("deploy/base");
    plane.kubectl_ok(&[
        "apply",
        "-f",
        &base.join("namespace.yaml").display().to_string(),
        "-f",
        &base.join("rbac.yaml").display().to_string(),
    ]);
    let kubeconfig = plane.service_account_kubeconfig("ecsfleet-system", "ecsfleet");
    (plane, emulator, kubeconfig)
}

/// A small DaemonService on the `production` cluster.
pub(crate) fn daemon_service_yaml(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: {name}, namespace: {namespace}}}\nspec:\n  cluster: production\n  taskDefinition:\n    family: {name}\n    containerDefinitions: [{{name: a, image: 'agent:7', memory: 64}}]\n"
    )
}

/// Two namespaces whose objects, sharded by namespace over `shards` shards, replicas
/// `members[0]` and `members[1]` hold respectively (the first of `team-0`, `team-1`, …
/// for each).
pub(crate) fn namespaces_of_two_replicas(members: &[String; 2], shards: u32) -> (String, String) {
    use ecsfleet::runtime::shards::{ShardKey, preferred, shard_of};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let owner = |namespace: &str| {
        let meta = ObjectMeta {
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        };
        preferred(shard_of(&meta, None, ShardKey::Namespace, shards), members)
            .unwrap()
            .to_string()
    };
    let of = |member: &String| {
        (0..256)
            .map(|i| format!("team-{i}"))
            .find(|namespace| owner(namespace) == *member)
            .expect("a namespace of each replica")
    };
    (of(&members[0]), of(&members[1]))
}

/// One replica of a sharded installation, named `name` (its pod name), with `args` besides
/// the Leases' namespace and a six-second lease.
pub(crate) fn replica(
    plane: &support::control_plane::ControlPlane,
    emulator: &support::Emulator,
    kubeconfig: &std::path::Path,
    name: &str,
    args: &[&str],
) -> support::control_plane::Operator {
    let mut all = args.to_vec();
    all.extend([
        "--leader-elect-namespace",
        "ecsfleet-system",
        "--leader-elect-lease-duration",
        "6s",
    ]);
    support::control_plane::Operator::start_with_env(
        ECSFLEET,
        kubeconfig,
        emulator,
        plane.dir.path().join(format!("{name}.log")),
        &all,
        &[("POD_NAME", name)],
    )
}

/// Waits until every one of `replicas` answers `/readyz`.
pub(crate) async fn all_ready<'a>(
    replicas: impl IntoIterator<Item = &'a support::control_plane::Operator>,
) {
    for replica in replicas {
        eventually(
            "every replica to be ready",
            std::time::Duration::from_secs(30),
            Some(replica),
            || replica.get("/readyz").filter(|(code, _)| *code == 200),
        )
        .await;
    }
}
