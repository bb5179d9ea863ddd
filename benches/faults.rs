//! Request amplification under faults: the AWS requests a create and one change cost
//! for each kind through the fault proxy with no faults, and with 30 % of requests
//! throttled, failed, reset or answered-then-lost (seeded), syncing as the controller's
//! retries would until converged. Also checks that the faults did not duplicate
//! anything (the exact inventory is asserted in tests/faults.rs).
//!
//! `cargo bench --bench faults` (or scripts/bench) measures three seeds per kind; under
//! `cargo test` it runs one seed of one kind as a smoke check.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use ecsfleet::daemon_service::{DaemonService, Shared};
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::runtime::{Directory, Managed, Pipeline};
use ecsfleet::scaling_group::ScalingGroup;
use support::faults::{ALL, FaultProxy};
use support::{Cluster, Emulator, sync};

const RATE: f64 = 0.3;

/// Syncs until in sync; returns how many syncs it took.
async fn converge<K: Managed>(obj: &mut K, pipeline: &Pipeline<K>) -> usize {
    for attempt in 1..=100 {
        match sync(obj, pipeline).await {
            Ok(actions) if actions.is_empty() => return attempt,
            Ok(_) => {}
            Err(error) => assert!(error.is_retryable(), "{error}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("did not converge");
}

/// One scenario of a kind: create, then one change; returns (requests, syncs).
async fn scenario(kind: &str, rate: f64, seed: u64) -> (u64, usize) {
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator);
    let mut syncs = 0;
    match kind {
        "DaemonService" => {
            let cluster = Cluster::create(&emulator, "bench").await;
            for _ in 0..3 {
                cluster.add_instance(&emulator).await;
            }
            let env = proxy.env(Secrets::Files(BTreeMap::new())).await;
            let shared = Shared::new(Duration::ZERO, Directory::default(), &env.hosts);
            let pipeline = Pipeline::new(env, shared);
            proxy.configure(rate, seed, ALL, None);
            let agent = |image: &str, generation: i64| {
                let mut obj: DaemonService = serde_yaml_ng::from_str(&format!(
                    "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: agent, namespace: bench, uid: u}}\nspec:\n  cluster: bench\n  taskDefinition:\n    family: agent\n    containerDefinitions: [{{name: a, image: '{image}', memory: 64}}]\n"
                ))
                .unwrap();
                obj.metadata.generation = Some(generation);
                obj
            };
            let mut obj = agent("agent:1", 1);
            syncs += converge(&mut obj, &pipeline).await;
            let status = obj.status.take();
            obj = agent("agent:2", 2);
            obj.status = status;
            syncs += converge(&mut obj, &pipeline).await;
            assert_eq!(cluster.revisions("agent").await.len(), 2);
        }
        "IntegrationRole" => {
            let pipeline = Pipeline::new(proxy.env(Secrets::Files(BTreeMap::new())).await, ());
            proxy.configure(rate, seed, ALL, None);
            let role = |action: &str, generation: i64| {
                let mut obj: IntegrationRole = serde_yaml_ng::from_str(&format!(
                    "apiVersion: ecsfleet.dev/v1alpha1\nkind: IntegrationRole\nmetadata: {{name: vendor, namespace: bench, uid: u}}\nspec:\n  trust: {{principals: ['464622532012'], allowWithoutExternalId: true}}\n  policy: {{statements: [{{actions: ['ec2:Describe*', '{action}']}}]}}\n"
                ))
                .unwrap();
                obj.metadata.generation = Some(generation);
                obj
            };
            let mut obj = role("cloudwatch:Get*", 1);
            syncs += converge(&mut obj, &pipeline).await;
            let status = obj.status.take();
            obj = role("cloudwatch:List*", 2);
            obj.status = status;
            syncs += converge(&mut obj, &pipeline).await;
        }
        _ => {
            let pipeline = Pipeline::new(proxy.env(Secrets::Files(BTreeMap::new())).await, ());
            proxy.configure(rate, seed, ALL, None);
            let example = include_str!("../examples/haproxy-scaling-group.yaml");
            let group = |yaml: &str, generation: i64| {
                let mut obj: ScalingGroup = serde_yaml_ng::from_str(yaml).unwrap();
                obj.metadata.uid = Some("u".into());
                obj.metadata.generation = Some(generation);
                obj
            };
            let mut obj = group(example, 1);
            syncs += converge(&mut obj, &pipeline).await;
            let status = obj.status.take();
            obj = group(&example.replace("t3.small", "t3.medium"), 2);
            obj.status = status;
            syncs += converge(&mut obj, &pipeline).await;
        }
    }
    (proxy.requests(), syncs)
}

#[tokio::main]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (kinds, seeds): (&[&str], &[u64]) = if full {
        (
            &["DaemonService", "IntegrationRole", "ScalingGroup"],
            &[11, 23, 47],
        )
    } else {
        (&["IntegrationRole"], &[11])
    };
    println!(
        "| kind | requests without faults | requests with {:.0} % faults (seeds {seeds:?}) | amplification |",
        RATE * 100.0
    );
    println!("|---|---|---|---|");
    for kind in kinds {
        let (clean, clean_syncs) = scenario(kind, 0.0, 0).await;
        let mut faulted = Vec::new();
        for &seed in seeds {
            faulted.push(scenario(kind, RATE, seed).await);
        }
        let requests: Vec<u64> = faulted.iter().map(|(r, _)| *r).collect();
        let syncs: Vec<usize> = faulted.iter().map(|(_, s)| *s).collect();
        let mean = requests.iter().sum::<u64>() as f64 / requests.len() as f64;
        println!(
            "| {kind} | {clean} in {clean_syncs} syncs | {requests:?} in {syncs:?} syncs | {:.2}× |",
            mean / clean as f64
        );
    }
}
