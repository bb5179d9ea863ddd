//! How fast AWS events are acted on, and what they cost: the release controller on the
//! local control plane, its event queue fed by the emulator's EventBridge (ECS publishes
//! "ECS Container Instance State Change" as AWS does), a resync far longer than the run.
//! For each host joining or draining: the time from the event (the ECS call that made
//! it has returned) to the controller's `UpdateService` (its log line's timestamp, taken
//! after the write completed), and the AWS calls it made for it. Then the API calls an
//! hour of 100 DaemonServices on 5 clusters costs with events and a 10-minute resync,
//! against a 60-second resync alone, from a measured resync pass.
//!
//! `cargo bench --bench events` (or scripts/bench) measures; under `cargo test` it runs
//! one small pass as a smoke check.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use ecsfleet::aws::AwsFactory;
use ecsfleet::daemon_service::{DaemonService, Shared};
use ecsfleet::metrics::Metrics;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::runtime::{Directory, Env, Pipeline};
use k8s_openapi::jiff::Timestamp;
use support::control_plane::{ControlPlane, Operator, calls_since, measured_binary};
use support::{Cluster, Emulator};

const OWN_BUILD: &str = env!("CARGO_BIN_EXE_ecsfleet");
/// The controller's resync: far longer than the run.
const RESYNC: Duration = Duration::from_secs(600);

fn daemon_service_yaml(name: &str, cluster: &str) -> String {
    format!(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: {name}, namespace: bench}}\nspec:\n  cluster: {cluster}\n  taskDefinition:\n    family: {name}\n    containerDefinitions: [{{name: a, image: 'agent:7', memory: 64}}]\n"
    )
}

/// The timestamps of the operator's `applied action=UpdateService` lines.
fn update_times(operator: &Operator) -> Vec<Timestamp> {
    operator
        .logs()
        .lines()
        .filter(|line| line.contains("applied") && line.contains("action=UpdateService"))
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}

async fn wait_for<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (events, hosts_per_cluster, clusters, services) =
        if full { (60, 20, 5, 100) } else { (2, 2, 1, 2) };

    let plane = ControlPlane::start();
    let emulator = Emulator::start();
    plane.kubectl_ok(&["create", "namespace", "bench"]);
    let queue = emulator.events_queue(&measured_binary(OWN_BUILD), support::REGION);

    // Reaction: one DaemonService on a cluster of its own, hosts joining and draining.
    let cluster = Cluster::create(&emulator, "events").await;
    let mut joined = Vec::new();
    for _ in 0..2 {
        joined.push(cluster.add_instance(&emulator).await);
    }
    let operator = Operator::start(
        &measured_binary(OWN_BUILD),
        &plane.kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &[
            "--resync",
            &format!("{}s", RESYNC.as_secs()),
            "--events-queue-url",
            &queue,
        ],
    );
    assert!(
        plane
            .kubectl_input(
                &["apply", "-f", "-"],
                &daemon_service_yaml("agent", "events")
            )
            .status
            .success()
    );
    wait_for(
        "the first UpdateService or CreateService",
        Duration::from_secs(60),
        || operator.aws_calls().get("CreateService").copied(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Nothing but the events may make the object look again while they are measured:
    // its resync turn (a fixed phase of wall-clock time) is kept out of the loop.
    plane
        .clear_of_resync_turn(
            "bench",
            "agent",
            RESYNC,
            Duration::from_secs(3 * events + 30),
        )
        .await;

    let mut reactions = Vec::new();
    let mut per_event: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..events {
        let before = operator.aws_calls();
        let updates = update_times(&operator).len();
        let at = Timestamp::try_from(SystemTime::now()).unwrap();
        if i % 2 == 0 {
            joined.push(cluster.add_instance(&emulator).await);
        } else {
            let host = joined.remove(0);
            cluster.drain(&host).await;
        }
        let written = wait_for("the UpdateService", Duration::from_secs(30), || {
            update_times(&operator).get(updates).copied()
        })
        .await;
        reactions.push(written.duration_since(at).as_secs_f64() * 1000.0);
        // Let the event's work finish (the message's deletion, the status write).
        tokio::time::sleep(Duration::from_millis(400)).await;
        for (op, n) in calls_since(&operator.aws_calls(), &before) {
            *per_event.entry(op).or_default() += n;
        }
    }
    reactions.sort_by(f64::total_cmp);
    let per_event: BTreeMap<String, f64> = per_event
        .into_iter()
        .map(|(op, n)| (op, n as f64 / events as f64))
        .collect();
    let sqs: f64 = ["ReceiveMessage", "DeleteMessageBatch"]
        .iter()
        .filter_map(|op| per_event.get(*op))
        .sum();
    let reconcile: f64 = per_event.values().sum::<f64>() - sqs;
    println!("| what | measured |");
    println!("|---|---|");
    println!(
        "| {events} hosts joining and draining one cluster: from the ECS call to the controller's `UpdateService` | p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms |",
        percentile(&reactions, 0.5),
        percentile(&reactions, 0.99),
        reactions.last().unwrap()
    );
    println!(
        "| AWS calls per host change | {reconcile:.2} for the reconcile + {sqs:.2} SQS: {per_event:?} |"
    );
    // The capacity providers change only by hand: read once per resync, not per event.
    assert!(
        !per_event.contains_key("DescribeClusters"),
        "an event read the cluster's capacity providers again: {per_event:?}"
    );
    assert!(operator.stop());

    // An hour of 100 DaemonServices: one resync pass measured, in process.
    let mut pass_objects = Vec::new();
    for c in 0..clusters {
        let name = format!("hourly-{c}");
        let cluster = Cluster::create(&emulator, &name).await;
        for _ in 0..hosts_per_cluster {
            cluster.add_instance(&emulator).await;
        }
        for s in 0..services / clusters {
            let mut obj: DaemonService =
                serde_yaml_ng::from_str(&daemon_service_yaml(&format!("svc-{c}-{s}"), &name))
                    .unwrap();
            obj.metadata.uid = Some(format!("uid-{c}-{s}"));
            obj.metadata.generation = Some(1);
            pass_objects.push(obj);
        }
    }
    let env = |metrics: Metrics| {
        let emulator = &emulator;
        async move {
            let aws = AwsFactory::from_config(emulator.sdk_config().await, metrics);
            Env::new(aws, Secrets::Files(BTreeMap::new()))
        }
    };
    let pipeline = |env: Env| {
        let shared = Shared::for_resync(
            RESYNC,
            Directory::Fixed(std::sync::Arc::new(pass_objects.clone())),
            &env.hosts,
        );
        Pipeline::new(env, shared)
    };
    let setup = pipeline(env(Metrics::default()).await);
    for obj in &pass_objects {
        setup.sync(obj).await.expect("created");
    }
    let steady = pipeline(env(Metrics::default()).await);
    for obj in &pass_objects {
        assert!(steady.sync(obj).await.expect("in sync").applied.is_empty());
    }
    let pass: u64 = steady.env.metrics().aws_requests().values().sum();
    let idle_polls = 3600 / 20; // one 20-second long poll at a time, per queue
    let every_minute = 60 * pass;
    let with_events = 3600 / RESYNC.as_secs() * pass + idle_polls;
    println!(
        "| AWS calls per hour, {services} DaemonServices on {clusters} clusters of {hosts_per_cluster} hosts ({pass} per resync pass) | 60-second resync alone: {every_minute}; events and a 10-minute resync: {with_events} ({idle_polls} of them idle long polls of one queue) + {reconcile:.1} per host change |"
    );
}
