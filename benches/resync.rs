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
use ecsfleet::daemon_service::DaemonService;
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::metrics::Metrics;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::runtime::{Directory, Env, Managed};
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

/// An environment as the controller has at the start of a resync: nothing cached.
async fn fresh_env(emulator: &Emulator, services: &[DaemonService], freshness: Duration) -> Env {
    let aws = AwsFactory::from_config(emulator.sdk_config().await, Metrics::default());
    let mut env = Env::new(aws, Secrets::Files(BTreeMap::new()), freshness);
    env.daemon_services = Directory::Fixed(Arc::new(services.to_vec()));
    env
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
    let (hosts, service_count, role_count, passes) =
        if full { (50, 40, 10, 5) } else { (3, 4, 2, 1) };

    let emulator = Emulator::start();
    let cluster = Cluster::create(&emulator, "bench").await;
    for _ in 0..hosts {
        cluster.add_instance(&emulator).await;
    }
    let services: Vec<DaemonService> = (0..service_count).map(daemon_service).collect();
    let roles: Vec<IntegrationRole> = (0..role_count).map(integration_role).collect();
    let setup = fresh_env(&emulator, &services, Duration::ZERO).await;
    for obj in &services {
        obj.sync(&setup).await.expect("created");
    }
    for obj in &roles {
        obj.sync(&setup).await.expect("created");
    }

    let mut service_times = Vec::new();
    let mut service_calls = BTreeMap::new();
    for _ in 0..passes {
        let env = fresh_env(&emulator, &services, Duration::from_secs(15)).await;
        let started = Instant::now();
        for obj in &services {
            let outcome = obj.sync(&env).await.expect("in sync");
            assert!(
                outcome.applied.is_empty(),
                "a steady-state pass writes nothing"
            );
        }
        service_times.push(started.elapsed());
        service_calls = env.metrics().aws_requests();
    }
    let mut role_times = Vec::new();
    let mut role_calls = BTreeMap::new();
    for _ in 0..passes {
        let env = fresh_env(&emulator, &services, Duration::from_secs(15)).await;
        let started = Instant::now();
        for obj in &roles {
            assert!(obj.sync(&env).await.expect("in sync").applied.is_empty());
        }
        role_times.push(started.elapsed());
        role_calls = env.metrics().aws_requests();
    }

    let total = |calls: &BTreeMap<String, u64>| calls.values().sum::<u64>();
    println!("steady-state resync, {hosts} container instances, median of {passes} pass(es):");
    println!(
        "  {service_count} DaemonServices on one cluster: {} AWS calls per pass {:?}, {:.1} ms per pass",
        total(&service_calls),
        service_calls,
        median(service_times).as_secs_f64() * 1000.0
    );
    println!(
        "  {role_count} IntegrationRoles: {} AWS calls per pass {:?}, {:.1} ms per pass",
        total(&role_calls),
        role_calls,
        median(role_times).as_secs_f64() * 1000.0
    );
    println!(
        "  peak resident memory of this process: {} MiB",
        peak_rss_kib() / 1024
    );
    // The shape the operator promises, checked on every run.
    assert_eq!(service_calls.get("ListContainerInstances"), Some(&1));
    assert_eq!(
        service_calls.get("DescribeServices").copied(),
        Some(service_count.div_ceil(10) as u64)
    );
    assert_eq!(total(&role_calls), 4 * role_count as u64);
}
