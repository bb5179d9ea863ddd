//! Scale: N DaemonServices over five ECS clusters of 20 container instances each,
//! reconciled by the controller (`ecsfleet run`, the optimized build under `cargo
//! bench`) on the local control plane against the emulator. For each N it reports the
//! time from the start of `kubectl apply` to every object Ready, the resident memory
//! of the process (idle before any object, peak, and steady after convergence), the
//! AWS calls of one resync by operation (averaged over three), and the Kubernetes
//! writes in steady state (objects whose resourceVersion changed, Events created).
//!
//! Checked by every run: every object converges; a steady-state resync writes nothing,
//! to AWS or to Kubernetes; `DescribeServices` takes full batches (at most ⌈N/10⌉ and
//! one partial batch per cluster per resync); no task definition is read again; and, for
//! the controller as it ships, its memory goals (see `MemoryGoals`).
//!
//! `cargo bench --bench scale` (or scripts/bench) measures 100 and 1,000 objects
//! (`ECSFLEET_SCALE=100,1000,10000` to choose, `ECSFLEET_SCALE_RESYNC=120` for a longer
//! resync, `ECSFLEET_SCALE_IDLE=420` to measure RSS again that much later); under
//! `cargo test` it runs one small pass as a smoke check (in scripts/test, of the shipped
//! build, whose memory it checks too).

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::control_plane::{ControlPlane, Memory, Operator, calls_since, memory};
use support::{Cluster, Emulator};

const OWN_BUILD: &str = env!("CARGO_BIN_EXE_ecsfleet");
const CLUSTERS: usize = 5;
const WRITES: [&str; 6] = [
    "CreateService",
    "UpdateService",
    "DeleteService",
    "RegisterTaskDefinition",
    "DeregisterTaskDefinition",
    "TagResource",
];

/// The objects, labelled and annotated as a GitOps tool applies them (the recommended
/// `app.kubernetes.io/` labels and Argo CD's tracking annotation).
fn manifests(count: usize) -> String {
    (0..count)
        .map(|i| {
            format!(
                "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata:\n  name: agent-{i}\n  namespace: bench\n  labels: {{app.kubernetes.io/name: agent, app.kubernetes.io/part-of: observability}}\n  annotations: {{argocd.argoproj.io/tracking-id: 'fleet:ecsfleet.dev/DaemonService:bench/agent-{i}'}}\nspec:\n  cluster: scale-{}\n  taskDefinition:\n    family: agent-{i}\n    containerDefinitions: [{{name: a, image: 'agent:7', memory: 64}}]\n",
                i % CLUSTERS
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// The controller measured: the build as it ships when a script names it
/// (`ECSFLEET_BINARY` from scripts/bench, `ECSFLEET_SHIPPED` from scripts/test), else this
/// build's own, whose memory says nothing of the product's (under `cargo test`, a debug
/// build): its memory goes unchecked.
fn measured() -> (String, Option<MemoryGoals>) {
    match std::env::var("ECSFLEET_BINARY").or_else(|_| std::env::var("ECSFLEET_SHIPPED")) {
        Ok(shipped) => (shipped, Some(MemoryGoals)),
        Err(_) => (OWN_BUILD.to_string(), None),
    }
}

/// The memory goals for the controller as it ships, on its own (anonymous) memory: heap,
/// thread stacks and relocated data, what no other process shares and the kernel cannot
/// reclaim. Idle in a few MiB; steady, up to 1,000 objects under 15 MiB and up to 10,000
/// under 50. RSS is reported beside it: the rest of it is the binary's code and read-only
/// data and the C library, clean pages mapped from the page cache, which vary by MiBs
/// between runs of one build with what the cache holds (docs/performance.md).
struct MemoryGoals;

impl MemoryGoals {
    const IDLE_OWN_MIB: f64 = 5.0;

    fn steady_own_mib(count: usize) -> Option<f64> {
        match count {
            ..=1_000 => Some(15.0),
            1_001..=10_000 => Some(50.0),
            _ => None,
        }
    }

    fn check(&self, row: &Row) {
        assert!(
            row.idle.anon < Self::IDLE_OWN_MIB,
            "idle: {:.1} MiB of the controller's own memory, RSS {} (goal: under {} MiB)",
            row.idle.anon,
            row.idle,
            Self::IDLE_OWN_MIB
        );
        if let Some(goal) = Self::steady_own_mib(row.count) {
            assert!(
                row.steady.anon < goal,
                "{} objects held {:.1} MiB of their own memory steady, RSS {} (goal: under {goal} MiB)",
                row.count,
                row.steady.anon,
                row.steady
            );
        }
    }
}

/// How many objects the operator reports Ready (its `ecsfleet_object_ready` series).
fn ready(operator: &Operator) -> usize {
    let Some((_, text)) = operator.get("/metrics") else {
        return 0;
    };
    text.lines()
        .filter(|l| l.starts_with("ecsfleet_object_ready{") && l.ends_with(" 1"))
        .count()
}

/// Every object's resourceVersion, and the number of Events, in namespace bench.
fn kubernetes_state(plane: &ControlPlane) -> (BTreeMap<String, String>, usize) {
    let versions = plane.kubectl_ok(&[
        "get",
        "daemonservices",
        "-n",
        "bench",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.resourceVersion}{\"\\n\"}{end}",
    ]);
    let versions = versions
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let events = plane
        .kubectl_ok(&["get", "events.events.k8s.io", "-n", "bench", "--no-headers"])
        .lines()
        .count();
    (versions, events)
}

struct Row {
    count: usize,
    converged: Duration,
    idle: Memory,
    steady: Memory,
    per_resync: BTreeMap<String, f64>,
    changed_objects: usize,
    new_events: usize,
    /// Memory after ECSFLEET_SCALE_IDLE more seconds.
    later: Option<(u64, Memory)>,
}

async fn run(binary: &str, count: usize, hosts: usize, resync: u64) -> Row {
    let plane = ControlPlane::start();
    let emulator = Emulator::start();
    plane.kubectl_ok(&["create", "namespace", "bench"]);
    for c in 0..CLUSTERS {
        let cluster = Cluster::create(&emulator, &format!("scale-{c}")).await;
        for _ in 0..hosts {
            cluster.add_instance(&emulator).await;
        }
    }
    let resync_arg = format!("{resync}s");
    let operator = Operator::start(
        binary,
        &plane.kubeconfig,
        &emulator,
        plane.dir.path().join("operator.log"),
        &["--resync", &resync_arg],
    );
    let started = Instant::now();
    while operator.get("/readyz").is_none_or(|(code, _)| code != 200) {
        assert!(started.elapsed() < Duration::from_secs(60), "never ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = memory(operator.pid());

    let file = plane.dir.path().join("objects.yaml");
    std::fs::write(&file, manifests(count)).unwrap();
    let applied = Instant::now();
    plane.kubectl_ok(&["apply", "-f", &file.display().to_string()]);
    let timeout = Duration::from_secs(120 + count as u64);
    while ready(&operator) < count {
        assert!(
            applied.elapsed() < timeout,
            "{} of {count} Ready after {timeout:?}:\n{}",
            ready(&operator),
            operator
                .logs()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converged = applied.elapsed();

    // Every cluster's turn has come at least once within one and a half resyncs of
    // convergence: past that, every resync is a steady one.
    tokio::time::sleep(Duration::from_secs(resync * 3 / 2 + 2)).await;
    // The calls of exactly three resync periods (each cluster's turn comes three times;
    // the slow Kubernetes reads stay outside the window, so that no fourth turn slips in).
    let passes = 3;
    let (versions_before, events_before) = kubernetes_state(&plane);
    let calls_before = operator.aws_calls();
    tokio::time::sleep(Duration::from_secs(resync * passes)).await;
    let calls = calls_since(&operator.aws_calls(), &calls_before);
    let (versions_after, events_after) = kubernetes_state(&plane);
    let steady = memory(operator.pid());
    // Optionally longer without any change, past the six minutes kube's event cache
    // keeps an Event: what the process holds once that cache has gone.
    let later = match std::env::var("ECSFLEET_SCALE_IDLE") {
        Ok(seconds) => {
            let seconds: u64 = seconds.parse().expect("ECSFLEET_SCALE_IDLE: seconds");
            tokio::time::sleep(Duration::from_secs(seconds)).await;
            Some((seconds, memory(operator.pid())))
        }
        Err(_) => None,
    };
    assert!(operator.stop());

    let per_resync: BTreeMap<String, f64> = calls
        .iter()
        .map(|(op, n)| (op.clone(), *n as f64 / passes as f64))
        .collect();
    for write in WRITES {
        assert!(
            !calls.contains_key(write),
            "a steady resync wrote: {calls:?}"
        );
    }
    // Every service runs the revision its object's last sync left: no family is read.
    assert!(
        !calls.contains_key("DescribeTaskDefinition"),
        "a steady resync read task definitions: {calls:?}"
    );
    let batches = per_resync.get("DescribeServices").copied().unwrap_or(0.0);
    assert!(
        batches <= (count.div_ceil(10) + CLUSTERS) as f64,
        "DescribeServices per resync: {batches} for {count} services"
    );
    let changed_objects = versions_after
        .iter()
        .filter(|(name, version)| versions_before.get(*name) != Some(*version))
        .count();
    assert_eq!(versions_after.len(), count);
    let new_events = events_after.saturating_sub(events_before);
    assert_eq!(
        (changed_objects, new_events),
        (0, 0),
        "Kubernetes writes in steady state"
    );
    Row {
        count,
        converged,
        idle,
        steady,
        per_resync,
        changed_objects,
        new_events,
        later,
    }
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let counts: Vec<usize> = match std::env::var("ECSFLEET_SCALE") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().expect("ECSFLEET_SCALE: numbers"))
            .collect(),
        Err(_) if full => vec![100, 1000],
        Err(_) => vec![10],
    };
    let (hosts, resync) = if full { (20, 30) } else { (2, 6) };
    // A longer resync for large counts (ECSFLEET_SCALE_RESYNC seconds), so that one
    // resync's calls fit its period on the emulator.
    let resync = std::env::var("ECSFLEET_SCALE_RESYNC")
        .ok()
        .map(|s| s.parse().expect("ECSFLEET_SCALE_RESYNC: seconds"))
        .unwrap_or(resync);
    println!(
        "| objects ({CLUSTERS} clusters of {hosts} hosts, `--resync {resync}s`) | apply → all Ready | RSS idle | RSS peak | RSS steady | AWS calls per resync | Kubernetes writes, {} resyncs |",
        3
    );
    println!("|---|---|---|---|---|---|---|");
    let (binary, goals) = measured();
    for count in counts {
        let row = run(&binary, count, hosts, resync).await;
        let calls: f64 = row.per_resync.values().sum();
        println!(
            "| {} | {:.1} s | {} | {:.1} MiB | {} | {calls:.1}: {} | {} objects changed, {} Events |",
            row.count,
            row.converged.as_secs_f64(),
            row.idle,
            row.steady.peak,
            row.steady,
            row.per_resync
                .iter()
                .map(|(op, n)| format!("{op} {n:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            row.changed_objects,
            row.new_events,
        );
        if let Some((seconds, memory)) = row.later {
            println!("  {} objects, {seconds} s later: RSS {memory}", row.count);
        }
        if let Some(goals) = &goals {
            goals.check(&row);
        }
    }
}
