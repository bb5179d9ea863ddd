//! Sharding: N DaemonServices over C ECS clusters (two hosts each) in 30 namespaces,
//! reconciled by three replicas of the controller as it ships (`--shards 48 --shard-key
//! uid`, the call budget on), against one replica holding a third of them (the objects
//! of 10 of the 30 namespaces, `--namespace`), on the local control plane against the
//! emulator, fed by its EventBridge → SQS queue. Reports, per replica: the objects it
//! watches, its steady RSS and anonymous memory, its AWS calls per resync; the AWS calls
//! an event costs (all replicas, passing on included); the time from an event (a host
//! joining a cluster, once no replica has handled an AWS event for two seconds) to each
//! replica's first write for it, and to the last object of the cluster written, the
//! first write split by path (the replica that took the event off the queue; the
//! replicas it passed the event on to, with the time the inbox hop took); and the peak
//! request rate of the account, all replicas together, against the configured budget.
//!
//! Checked by every run: the replicas watch disjoint shares that add up to N; every
//! object converges; each event reaches every replica; the budget is never exceeded by
//! more than its burst.
//!
//! `cargo test --bench shards -- --bench` (or `scripts/bench shards`) measures N = 3,000
//! over 30 clusters (`ECSFLEET_SHARDS_SCALE=30000` for more); under `cargo test` it runs
//! one small pass as a smoke check.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::jiff::Timestamp;
use support::control_plane::{
    ControlPlane, Memory, Operator, calls_since, measured_binary, memory,
};
use support::{Cluster, Emulator};

const OWN_BUILD: &str = env!("CARGO_BIN_EXE_ecsfleet");
const NAMESPACES: usize = 30;
const REPLICAS: [&str; 3] = ["replica-a", "replica-b", "replica-c"];
const SHARDS: u32 = 48;
/// The call budget per account, Region and service, shared by the replicas.
const BUDGET: u32 = 200;
/// The replicas' log filter: the default, and the lines that say when a replica took an
/// event off the queue and when it acted on what another passed on.
const LOG: &str = "info,kube=warn,ecsfleet::runtime::events=debug,ecsfleet::runtime::inbox=debug";
const TOOK: &str = "took an AWS event off the queue";
const RECEIVED: &str = "acting on what another replica passed on";

fn manifests(range: std::ops::Range<usize>, clusters: usize) -> String {
    range
        .map(|i| {
            format!(
                "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: agent-{i}, namespace: bench-{}}}\nspec:\n  cluster: shards-{}\n  taskDefinition:\n    family: agent-{i}\n    containerDefinitions: [{{name: a, image: 'agent:7', memory: 64}}]\n",
                i % NAMESPACES,
                i % clusters
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// How many objects `operator` reports Ready.
fn ready(operator: &Operator) -> usize {
    operator.get("/metrics").map_or(0, |(_, text)| {
        text.lines()
            .filter(|l| l.starts_with("ecsfleet_object_ready{") && l.ends_with(" 1"))
            .count()
    })
}

fn watched(operator: &Operator) -> u64 {
    operator.metric(r#"ecsfleet_watched_objects{kind="DaemonService"}"#)
}

/// All AWS requests the operators made so far, by service.
fn requests_by_service(operators: &[&Operator]) -> BTreeMap<String, u64> {
    let mut by = BTreeMap::new();
    for operator in operators {
        let Some((_, text)) = operator.get("/metrics") else {
            continue;
        };
        for line in text.lines() {
            let Some(rest) = line.strip_prefix("ecsfleet_aws_requests_total{") else {
                continue;
            };
            let service = rest
                .split("service=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default()
                .to_string();
            let value: u64 = rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            *by.entry(service).or_default() += value;
        }
    }
    by
}

/// The timestamps of `operator`'s `applied action=UpdateService` lines for services of
/// `cluster` (services `agent-i` with `i % clusters == cluster`), after `after`.
fn updates_of(
    operator: &Operator,
    cluster: usize,
    clusters: usize,
    after: Timestamp,
) -> Vec<Timestamp> {
    operator
        .logs()
        .lines()
        .filter(|line| line.contains("applied") && line.contains("action=UpdateService"))
        .filter(|line| {
            line.split("object=bench-")
                .nth(1)
                .and_then(|rest| rest.split("/agent-").nth(1))
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i % clusters == cluster)
        })
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .filter(|at: &Timestamp| *at > after)
        .collect()
}

/// The time of `operator`'s first log line after `after` that contains every one of
/// `needles`.
fn first_line(operator: &Operator, needles: &[&str], after: Timestamp) -> Option<Timestamp> {
    operator
        .logs()
        .lines()
        .filter(|line| needles.iter().all(|needle| line.contains(needle)))
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .find(|at: &Timestamp| *at > after)
}

/// The milliseconds from `from` to `to`.
fn millis(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64() * 1000.0
}

/// "p50 X ms, p99 Y ms" of `samples`.
fn p50_p99(samples: &mut [f64]) -> String {
    samples.sort_by(f64::total_cmp);
    format!(
        "p50 {:.0} ms, p99 {:.0} ms",
        percentile(samples, 0.5),
        percentile(samples, 0.99)
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at]
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The AWS events all operators have handled so far (taken off the queue or received
/// in their inbox, whatever the result).
fn events_handled(operators: &[&Operator]) -> u64 {
    operators
        .iter()
        .filter_map(|operator| operator.get("/metrics"))
        .flat_map(|(_, text)| {
            text.lines()
                .filter(|line| line.starts_with("ecsfleet_events_total{"))
                .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Waits (up to two minutes) until no operator has handled an AWS event for two seconds:
/// the previous join's deployment events are behind. (ECS requests never stop: the
/// resync turns go on.)
async fn quiet(operators: &[&Operator]) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = events_handled(operators);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = events_handled(operators);
        if now == last {
            return;
        }
        last = now;
    }
}

/// Waits for `resync * 1.5`, so that every turn has come once past convergence, then
/// returns the calls of one more resync period by operation.
async fn one_resync(operator: &Operator, resync: u64) -> BTreeMap<String, u64> {
    tokio::time::sleep(Duration::from_secs(resync * 3 / 2)).await;
    let before = operator.aws_calls();
    tokio::time::sleep(Duration::from_secs(resync)).await;
    calls_since(&operator.aws_calls(), &before)
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let count: usize = std::env::var("ECSFLEET_SHARDS_SCALE")
        .map(|n| n.parse().expect("ECSFLEET_SHARDS_SCALE: a number"))
        .unwrap_or(if full { 3000 } else { 90 });
    let clusters = if full { 30 } else { 3 };
    let events = if full { 10 } else { 2 };
    let resync: u64 = match (full, count) {
        (false, _) => 6,
        (true, ..=3000) => 30,
        (true, _) => 120,
    };
    let binary = measured_binary(OWN_BUILD);

    let plane = ControlPlane::start();
    let emulator = Emulator::start();
    plane.kubectl_ok(&["create", "namespace", "ecsfleet-system"]);
    for n in 0..NAMESPACES {
        plane.kubectl_ok(&["create", "namespace", &format!("bench-{n}")]);
    }
    let queue = emulator.events_queue(&binary, support::REGION);
    let mut cluster_handles = Vec::new();
    for c in 0..clusters {
        let cluster = Cluster::create(&emulator, &format!("shards-{c}")).await;
        for _ in 0..2 {
            cluster.add_instance(&emulator).await;
        }
        cluster_handles.push(cluster);
    }

    // Three replicas, the budget shared by their shards.
    let resync_arg = format!("{resync}s");
    let (shards_arg, budget_arg) = (SHARDS.to_string(), BUDGET.to_string());
    let replicas: Vec<Operator> = REPLICAS
        .iter()
        .map(|name| {
            Operator::start_with_env(
                &binary,
                &plane.kubeconfig,
                &emulator,
                plane.dir.path().join(format!("{name}.log")),
                &[
                    "--resync",
                    &resync_arg,
                    "--shards",
                    &shards_arg,
                    "--shard-key",
                    "uid",
                    "--events-queue-url",
                    &queue,
                    "--aws-rate",
                    &budget_arg,
                    "--aws-burst",
                    &budget_arg,
                    "--leader-elect-namespace",
                    "ecsfleet-system",
                ],
                &[("POD_NAME", name), ("RUST_LOG", LOG)],
            )
        })
        .collect();
    let all: Vec<&Operator> = replicas.iter().collect();
    wait_for("every replica ready", Duration::from_secs(60), || {
        all.iter()
            .all(|r| r.get("/readyz").is_some_and(|(code, _)| code == 200))
    })
    .await;

    // The request rate of the account, sampled every second while the objects converge.
    let applied = Instant::now();
    for chunk in (0..count).step_by(1000) {
        let file = plane.dir.path().join(format!("objects-{chunk}.yaml"));
        std::fs::write(&file, manifests(chunk..(chunk + 1000).min(count), clusters)).unwrap();
        plane.kubectl_ok(&["apply", "-f", &file.display().to_string()]);
    }
    let mut peak: BTreeMap<String, u64> = BTreeMap::new();
    let mut last = requests_by_service(&all);
    let timeout = Duration::from_secs(300 + count as u64 / 5);
    loop {
        let ready: usize = all.iter().map(|r| ready(r)).sum();
        if ready >= count {
            break;
        }
        assert!(
            applied.elapsed() < timeout,
            "{ready} of {count} Ready after {timeout:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = requests_by_service(&all);
        for (service, n) in &now {
            let second = n - last.get(service).copied().unwrap_or(0);
            let top = peak.entry(service.clone()).or_default();
            *top = (*top).max(second);
        }
        last = now;
    }
    let converged = applied.elapsed();

    // Disjoint shares that add up to every object (the gauge is set every 5 seconds).
    wait_for(
        "the watched objects to add up",
        Duration::from_secs(15),
        || all.iter().map(|r| watched(r)).sum::<u64>() == count as u64,
    )
    .await;
    let shares: Vec<u64> = all.iter().map(|r| watched(r)).collect();
    assert_eq!(shares.iter().sum::<u64>(), count as u64, "{shares:?}");
    assert!(shares.iter().all(|s| *s > 0), "{shares:?}");

    let mut per_resync = Vec::new();
    for replica in &all {
        per_resync.push(one_resync(replica, resync));
    }
    let per_resync = futures::future::join_all(per_resync).await;
    let steady: Vec<Memory> = all.iter().map(|r| memory(r.pid())).collect();

    // Events: a host joins a cluster; every replica holds some of its DaemonServices.
    let mut first_writes = Vec::new();
    let mut last_writes = Vec::new();
    // Each event split by path: the replica that took it off the queue, and those it was
    // passed on to, with the two hops on the way.
    let (mut taker_writes, mut passed_writes) = (Vec::new(), Vec::new());
    let (mut off_queue, mut hop) = (Vec::new(), Vec::new());
    let calls_before = requests_by_service(&all);
    let passed_on = |all: &[&Operator]| -> u64 {
        all.iter()
            .map(|r| r.metric(r#"ecsfleet_events_total{result="passed-on"}"#))
            .sum()
    };
    let passed_before = passed_on(&all);
    let per_cluster = count / clusters;
    for e in 0..events {
        let cluster = e % clusters;
        let at = Timestamp::try_from(SystemTime::now()).unwrap();
        cluster_handles[cluster].add_instance(&emulator).await;
        let written = |replica: &Operator| updates_of(replica, cluster, clusters, at);
        wait_for(
            "every object of the cluster written",
            Duration::from_secs(60 + per_cluster as u64 / 10),
            || all.iter().map(|r| written(r).len()).sum::<usize>() >= per_cluster,
        )
        .await;
        let named = format!("cluster: \"shards-{cluster}\"");
        let taken: Vec<Option<Timestamp>> = all
            .iter()
            .map(|replica| first_line(replica, &[TOOK, &named], at))
            .collect();
        let (taker, took) = taken
            .iter()
            .enumerate()
            .filter_map(|(i, took)| Some((i, (*took)?)))
            .min_by_key(|(_, took)| *took)
            .expect("a replica took the host's event off the queue");
        off_queue.push(millis(at, took));
        let mut latest = at;
        for (i, replica) in all.iter().enumerate() {
            let times = written(replica);
            let first = *times
                .iter()
                .min()
                .expect("each replica wrote for the event");
            first_writes.push(millis(at, first));
            if i == taker {
                taker_writes.push(millis(at, first));
            } else {
                passed_writes.push(millis(at, first));
                let received = first_line(replica, &[RECEIVED], took)
                    .expect("the event was passed on to every other replica");
                hop.push(millis(took, received));
            }
            latest = latest.max(*times.iter().max().unwrap());
        }
        last_writes.push(millis(at, latest));
        // The join's 1,000 writes bring back as many ECS deployment events, each
        // reconciled by its owner: the next join waits until they are handled, so that
        // each reaction is measured from a settled system, as benches/events.rs does.
        quiet(&all).await;
    }
    let event_calls: u64 = calls_since(&requests_by_service(&all), &calls_before)
        .values()
        .sum();
    last_writes.sort_by(f64::total_cmp);
    let passed_on = passed_on(&all) - passed_before;
    for replica in replicas {
        assert!(replica.stop());
    }

    // One replica holding a third: the objects of 10 of the 30 namespaces.
    let third: Vec<String> = (0..NAMESPACES / 3)
        .flat_map(|n| ["--namespace".to_string(), format!("bench-{n}")])
        .collect();
    let mut args: Vec<&str> = vec!["--resync", &resync_arg];
    args.extend(third.iter().map(String::as_str));
    let single = Operator::start(
        &binary,
        &plane.kubeconfig,
        &emulator,
        plane.dir.path().join("single.log"),
        &args,
    );
    let held = (0..count)
        .filter(|i| i % NAMESPACES < NAMESPACES / 3)
        .count();
    wait_for("the single replica's objects Ready", timeout, || {
        ready(&single) >= held
    })
    .await;
    let single_resync = one_resync(&single, resync).await;
    let single_memory = memory(single.pid());
    assert!(single.stop());

    println!(
        "| {count} DaemonServices, {clusters} clusters, `--resync {resync}s` | watched objects | RSS steady | AWS calls per resync |"
    );
    println!("|---|---|---|---|");
    for (i, name) in REPLICAS.iter().enumerate() {
        println!(
            "| {name} of 3 (`--shards {SHARDS} --shard-key uid`) | {} | {} | {} |",
            shares[i],
            steady[i],
            per_resync[i].values().sum::<u64>()
        );
    }
    println!(
        "| one replica, 10 of the 30 namespaces | {held} | {single_memory} | {} |",
        single_resync.values().sum::<u64>()
    );
    let largest = steady.iter().map(|m| m.anon).fold(0.0, f64::max);
    println!(
        "| largest replica's anonymous memory / one replica holding a third | | {:.2}× | |",
        largest / single_memory.anon
    );
    println!(
        "| apply → all Ready (3 replicas) | {:.1} s | | |",
        converged.as_secs_f64()
    );
    println!(
        "| a host joins: event → each replica's first write ({events} events × 3 replicas) | {} | | |",
        p50_p99(&mut first_writes)
    );
    println!(
        "| … the replica that took the event off the queue | {} | event → off the queue: {} | |",
        p50_p99(&mut taker_writes),
        p50_p99(&mut off_queue)
    );
    println!(
        "| … the replicas it was passed on to | {} | off the queue → in their inboxes: {} | |",
        p50_p99(&mut passed_writes),
        p50_p99(&mut hop)
    );
    println!(
        "| a host joins: event → last of the cluster's {per_cluster} services written | p50 {:.0} ms, max {:.0} ms | | |",
        percentile(&last_writes, 0.5),
        last_writes.last().unwrap()
    );
    println!(
        "| AWS calls per event, all replicas ({per_cluster} services updated) | {:.0} | inbox writes per event: {:.1} | |",
        event_calls as f64 / events as f64,
        passed_on as f64 / events as f64
    );
    println!(
        "| peak requests in one second, all replicas, by service (budget {BUDGET}/s, burst {BUDGET}) | {} | | |",
        peak.iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (service, n) in &peak {
        assert!(
            *n <= u64::from(2 * BUDGET),
            "{service}: {n} requests in one second over a budget of {BUDGET}/s and a burst of {BUDGET}"
        );
    }
}
