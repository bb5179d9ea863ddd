//! The AWS call budget over HTTP: requests wait for their bucket's tokens, and AWS's
//! throttling answers lower the rate until it answers normally again.

use std::time::Instant;

use ecsfleet::aws::budget::{BudgetKey, BudgetSettings};
use ecsfleet::aws::{AwsFactory, AwsTarget};
use ecsfleet::metrics::Metrics;

use crate::support::faults::FaultProxy;
use crate::support::{Emulator, REGION};

async fn budgeted(endpoint: &str, rate: f64, burst: f64) -> (AwsFactory, Metrics) {
    let config = crate::support::ecsfleet_sdk_config(endpoint).await;
    let metrics = Metrics::default();
    let factory = AwsFactory::from_config(config, metrics.clone())
        .with_budget(BudgetSettings { rate, burst });
    (factory, metrics)
}

fn ecs_key() -> BudgetKey {
    BudgetKey {
        account: "operator".into(),
        region: REGION.into(),
        service: "ECS".into(),
    }
}

/// The value of the metric line starting with `prefix` (e.g. `name{labels}`).
fn metric(metrics: &Metrics, prefix: &str) -> f64 {
    metrics
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_burst_of_calls_waits_for_the_budget() {
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator);
    let (factory, metrics) = budgeted(&proxy.endpoint, 5.0, 5.0).await;
    let clients = factory.clients(&AwsTarget::default()).await.unwrap();
    let started = Instant::now();
    let calls = (0..25).map(|_| clients.ecs.list_clusters().send());
    for answer in futures::future::join_all(calls).await {
        answer.unwrap();
    }
    // Five at once, then five a second: the last of 25 leaves after four seconds.
    assert!(
        started.elapsed().as_secs_f64() >= 3.9,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(proxy.requests(), 25, "every call reached AWS once");
    let waits = metric(&metrics, "ecsfleet_aws_budget_waits_total{service=\"ECS\"}");
    assert_eq!(waits, 20.0);
    // Each of the 20 waited k/5 s: 42 s in all.
    let waited = metric(
        &metrics,
        "ecsfleet_aws_budget_wait_seconds_total{service=\"ECS\"}",
    );
    assert!((waited - 42.0).abs() < 0.5, "{waited}");
    // Another service's bucket is untouched.
    assert_eq!(
        metric(&metrics, "ecsfleet_aws_budget_waits_total{service=\"IAM\"}"),
        0.0
    );
}

#[tokio::test]
async fn throttling_lowers_the_rate_until_aws_answers_again() {
    let emulator = Emulator::start();
    let proxy = FaultProxy::start(&emulator);
    let (factory, metrics) = budgeted(&proxy.endpoint, 20.0, 20.0).await;
    let clients = factory.clients(&AwsTarget::default()).await.unwrap();
    let budgets = factory.budgets().unwrap().clone();

    proxy.configure(0.5, 7, &["throttle"], Some("ListClusters"));
    for _ in 0..10 {
        let _ = clients.ecs.list_clusters().send().await;
    }
    let lowered = budgets.rate(&ecs_key()).unwrap();
    assert!(lowered < 20.0, "{lowered}");
    assert_eq!(
        metric(&metrics, "ecsfleet_aws_budget_rate{service=\"ECS\"}"),
        lowered
    );

    proxy.configure(0.0, 7, &[], None);
    for _ in 0..60 {
        clients.ecs.list_clusters().send().await.unwrap();
    }
    assert_eq!(
        budgets.rate(&ecs_key()),
        Some(20.0),
        "back to the configured rate"
    );
}
