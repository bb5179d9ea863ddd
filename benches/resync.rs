//! What a steady-state resync costs: AWS calls (exact), wall time and memory for a
//! cluster of many hosts with many DaemonServices, and for IntegrationRoles, against the
//! AWS emulator over HTTP (so times are dominated by the emulator's round trips).
//!
//! `cargo bench --bench resync` (or scripts/bench) measures; under `cargo test` it runs
//! one small pass as a smoke check.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ecsfleet::aws::AwsFactory;
use ecsfleet::daemon_service::{DaemonService, Shared};
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::metrics::Metrics;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::runtime::{Directory, Env, Managed, Pipeline};
use ecsfleet::scaling_group::ScalingGroup;
use support::{Cluster, Emulator};

fn daemon_service(i: usize) -> DaemonService {
    let mut obj: DaemonService = serde_yaml_ng::from_str(&format!(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: agent-{i}, namespace: bench, uid: uid-{i}, generation: 1}}\nspec:\n  cluster: bench\n  taskDefinition:\n    family: agent-{i}\n    containerDefinitions: [{{name: a, image: 'agent:7', memory: 64}}]\n"
    ))
    .unwrap();
    obj.metadata.uid = Some(format!("uid-{i}"));
    obj
}

fn integration_role(i: usize) -> IntegrationRole {
    serde_yaml_ng::from_str(&format!(
        "apiVersion: ecsfleet.dev/v1alpha1\nkind: IntegrationRole\nmetadata: {{name: vendor-{i}, namespace: bench, uid: role-{i}, generation: 1}}\nspec:\n  trust: {{principals: ['464622532012'], allowWithoutExternalId: true}}\n  policy: {{statements: [{{actions: ['ec2:Describe*', 'cloudwatch:Get*']}}]}}\n"
    ))
    .unwrap()
}

/// The haproxy example as group `bench-<i>` (moto keys scaling policies by name alone,
/// so each group's policies get their own names).
fn scaling_group(i: usize) -> ScalingGroup {
    let yaml = include_str!("../examples/haproxy-scaling-group.yaml")
        .replace("haproxy-staging", &format!("bench-{i}"))
        .replace("name: haproxy-cpu", &format!("name: bench-{i}-cpu"));
    let mut obj: ScalingGroup = serde_yaml_ng::from_str(&yaml).unwrap();
    obj.metadata.uid = Some(format!("group-{i}"));
    obj.metadata.generation = Some(1);
    obj
}

/// An environment as the controller has at the start of a resync: nothing cached.
async fn fresh_env(emulator: &Emulator) -> Env {
    let aws = AwsFactory::from_config(emulator.sdk_config().await, Metrics::default());
    Env::new(aws, Secrets::Files(BTreeMap::new()))
}

/// The DaemonService pipeline of `env`, batching with `services`.
fn service_pipeline(
    env: Env,
    services: &[DaemonService],
    freshness: Duration,
) -> Pipeline<DaemonService> {
    let peers = Directory::Fixed(Arc::new(services.to_vec()));
    let shared = Shared::new(freshness, peers, &env.hosts);
    Pipeline::new(env, shared)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (hosts, service_count, role_count, group_count, passes) = if full {
        (50, 40, 10, 10, 5)
    } else {
        (3, 4, 2, 1, 1)
    };

    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "bench").await;
    for _ in 0..hosts {
        cluster.add_instance(&emulator).await;
    }
    let mut services: Vec<DaemonService> = (0..service_count).map(daemon_service).collect();
    let mut roles: Vec<IntegrationRole> = (0..role_count).map(integration_role).collect();
    let mut groups: Vec<ScalingGroup> = (0..group_count).map(scaling_group).collect();
    // Created, each object then carrying the status its sync wrote, as the controller's
    // objects do.
    let setup = fresh_env(&emulator).await;
    let service_setup = service_pipeline(setup.clone(), &services, Duration::ZERO);
    for obj in &mut services {
        support::sync(obj, &service_setup).await.expect("created");
    }
    let role_setup = Pipeline::new(setup.clone(), ());
    for obj in &mut roles {
        support::sync(obj, &role_setup).await.expect("created");
    }
    let group_setup = Pipeline::new(setup, ());
    for obj in &mut groups {
        support::sync(obj, &group_setup).await.expect("created");
    }

    let freshness = Duration::from_secs(15);
    let (service_times, service_calls) = resync(&emulator, &services, passes, |env| {
        service_pipeline(env, &services, freshness)
    })
    .await;
    let (role_times, role_calls) =
        resync(&emulator, &roles, passes, |env| Pipeline::new(env, ())).await;
    let (group_times, group_calls) =
        resync(&emulator, &groups, passes, |env| Pipeline::new(env, ())).await;

    let total = |calls: &BTreeMap<String, u64>| calls.values().sum::<u64>();
    let calls = |calls: &BTreeMap<String, u64>| {
        let each: Vec<String> = calls.iter().map(|(op, n)| format!("{n} `{op}`")).collect();
        format!("{}: {}", total(calls), each.join(", "))
    };
    let ms = |times: Vec<Duration>| median(times).as_secs_f64() * 1000.0;
    println!(
        "| objects ({hosts} container instances) | AWS calls per pass (no writes) | time per pass |"
    );
    println!("|---|---|---|");
    println!(
        "| {service_count} DaemonServices on one cluster | {} | {:.0} ms |",
        calls(&service_calls),
        ms(service_times)
    );
    println!(
        "| {role_count} IntegrationRoles | {} | {:.0} ms |",
        calls(&role_calls),
        ms(role_times)
    );
    println!(
        "| {group_count} ScalingGroups (2 policies with alarms, a created topic, a hook) | {} | {:.0} ms |",
        calls(&group_calls),
        ms(group_times)
    );
    println!(
        "| peak resident memory of the process holding them all | | {} MiB |",
        peak_rss_kib() / 1024
    );
    // The shape the operator promises, checked on every run.
    assert_eq!(service_calls.get("ListContainerInstances"), Some(&1));
    // The cluster's capacity providers (it has none): one read for all its services.
    assert_eq!(service_calls.get("DescribeClusters"), Some(&1));
    assert_eq!(
        service_calls.get("DescribeServices").copied(),
        Some(service_count.div_ceil(10) as u64)
    );
    // Each service runs the revision its last sync left: no family is read again.
    assert_eq!(service_calls.get("DescribeTaskDefinition"), None);
    assert_eq!(total(&role_calls), 4 * role_count as u64);
    assert_eq!(total(&group_calls), 8 * group_count as u64);
}

/// `passes` steady-state resyncs of `objects`, each from a fresh environment: the median
/// time and the AWS calls of one pass. Fails if a pass writes anything.
async fn resync<K: Managed>(
    emulator: &Emulator,
    objects: &[K],
    passes: usize,
    pipeline: impl Fn(Env) -> Pipeline<K>,
) -> (Vec<Duration>, BTreeMap<String, u64>) {
    let mut times = Vec::new();
    let mut calls = BTreeMap::new();
    for _ in 0..passes {
        let pipeline = pipeline(fresh_env(emulator).await);
        let started = Instant::now();
        for obj in objects {
            let outcome = pipeline.sync(obj).await.expect("in sync");
            assert!(
                outcome.applied.is_empty(),
                "a steady-state pass writes nothing"
            );
        }
        times.push(started.elapsed());
        calls = pipeline.env.metrics().aws_requests();
    }
    (times, calls)
}
