//! The AWS call budget: a client-side token bucket per account, Region and service, so
//! that a resync storm or a mass rollout takes at most the configured share of the
//! account's request quotas (which ecsfleet shares with every other tool in the account).
//!
//! A request waits for a token before it is sent (every attempt, retries included). The
//! bucket refills at the configured rate up to the configured burst; an answer that AWS
//! throttled halves the rate it refills at (never below a tenth of the configured rate),
//! and each answer that was not throttled wins a fiftieth of the configured rate back, so
//! ecsfleet backs off when other tools crowd the account's bucket and returns to its
//! share when they stop. With sharding, each replica takes its share of the rate: the
//! shards it holds over all shards.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::time::Instant;

use crate::metrics::Metrics;

/// The rate and burst of each (account, Region, service) bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetSettings {
    /// Requests a second, sustained.
    pub rate: f64,
    /// Requests at once after a quiet spell.
    pub burst: f64,
}

/// Which bucket a request draws from: set on the request by the client's interceptor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BudgetKey {
    /// The credentials' identity: the assumed role, or the operator's own.
    pub account: String,
    pub region: String,
    pub service: String,
}

#[derive(Debug)]
struct Bucket {
    /// Tokens now; negative while requests are queued for tokens not refilled yet.
    tokens: f64,
    /// The rate it refills at now (adaptive, at most the configured one).
    rate: f64,
    updated: Instant,
}

/// Every bucket of the process.
#[derive(Debug)]
pub struct Budgets {
    settings: BudgetSettings,
    /// This replica's share of the rate, in thousandths (1000: all of it).
    share: AtomicU32,
    buckets: Mutex<HashMap<BudgetKey, Bucket>>,
    metrics: Metrics,
}

impl Budgets {
    pub fn new(settings: BudgetSettings, metrics: Metrics) -> Arc<Self> {
        Arc::new(Budgets {
            settings,
            share: AtomicU32::new(1000),
            buckets: Mutex::default(),
            metrics,
        })
    }

    /// This replica's share of every bucket's rate and burst (with sharding: the shards
    /// it holds over all shards; at least a thousandth, so a replica that is taking its
    /// first shard is not stalled).
    pub fn set_share(&self, held: u32, total: u32) {
        let share = (u64::from(held) * 1000 / u64::from(total.max(1))).clamp(1, 1000);
        self.share.store(share as u32, Ordering::Relaxed);
    }

    fn configured(&self) -> BudgetSettings {
        let share = f64::from(self.share.load(Ordering::Relaxed)) / 1000.0;
        BudgetSettings {
            rate: self.settings.rate * share,
            burst: (self.settings.burst * share).max(1.0),
        }
    }

    /// Takes a token of `key`'s bucket: how long to wait before sending (zero while the
    /// bucket has tokens). The token is the caller's once the wait is over.
    pub fn reserve(&self, key: &BudgetKey, now: Instant) -> Duration {
        let configured = self.configured();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key.clone()).or_insert_with(|| Bucket {
            tokens: configured.burst,
            rate: configured.rate,
            updated: now,
        });
        bucket.rate = bucket.rate.min(configured.rate);
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * bucket.rate).min(configured.burst);
        bucket.updated = now;
        bucket.tokens -= 1.0;
        let rate = bucket.rate;
        let wait = if bucket.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-bucket.tokens / rate)
        };
        drop(buckets);
        self.metrics
            .observe_aws_budget(&key.service, rate, wait.as_secs_f64());
        wait
    }

    /// Gives back the token of a request that was abandoned before it was sent (its
    /// attempt timed out while waiting, or its reconcile was cancelled): otherwise each
    /// abandoned wait would deepen the queue for the requests after it.
    pub fn refund(&self, key: &BudgetKey) {
        let configured = self.configured();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.tokens = (bucket.tokens + 1.0).min(configured.burst);
        }
    }

    /// AWS answered the request: throttled halves the bucket's rate, anything else wins a
    /// little of it back.
    pub fn answered(&self, key: &BudgetKey, throttled: bool) {
        let configured = self.configured();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bucket) = buckets.get_mut(key) {
            bucket.rate = if throttled {
                (bucket.rate / 2.0).max(configured.rate / 10.0)
            } else {
                (bucket.rate + configured.rate / 50.0).min(configured.rate)
            };
            let rate = bucket.rate;
            drop(buckets);
            self.metrics.observe_aws_budget(&key.service, rate, 0.0);
        }
    }

    /// The rate `key`'s bucket refills at now (requests a second).
    pub fn rate(&self, key: &BudgetKey) -> Option<f64> {
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(key).map(|b| b.rate)
    }
}

/// Tags each request attempt with its bucket (account, Region, service), for the
/// connector to wait on, and tells the bucket how AWS answered.
#[derive(Debug)]
pub struct Budgeted {
    pub budgets: Arc<Budgets>,
    pub account: String,
    pub region: String,
}

impl Budgeted {
    fn key(&self, cfg: &ConfigBag) -> Option<BudgetKey> {
        cfg.load::<Metadata>().map(|metadata| BudgetKey {
            account: self.account.clone(),
            region: self.region.clone(),
            service: metadata.service().to_string(),
        })
    }
}

impl Intercept for Budgeted {
    fn name(&self) -> &'static str {
        "Budgeted"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(key) = self.key(cfg) {
            context.request_mut().add_extension(key);
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let (Some(key), Some(response)) = (self.key(cfg), context.response()) {
            self.budgets.answered(&key, super::is_throttled(response));
        }
        Ok(())
    }
}

/// The HTTP client of every AWS client, with the budget in front of its connector.
#[derive(Clone, Debug)]
pub struct BudgetedHttpClient {
    pub inner: SharedHttpClient,
    pub budgets: Arc<Budgets>,
}

impl HttpClient for BudgetedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(BudgetedConnector {
            inner: self.inner.http_connector(settings, components),
            budgets: self.budgets.clone(),
        })
    }
}

#[derive(Debug)]
struct BudgetedConnector {
    inner: SharedHttpConnector,
    budgets: Arc<Budgets>,
}

impl HttpConnector for BudgetedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let waiting = request.extension::<BudgetKey>().map(|key| Waiting {
            wait: self.budgets.reserve(key, Instant::now()),
            budgets: self.budgets.clone(),
            key: key.clone(),
        });
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            if let Some(waiting) = waiting {
                waiting.until_sent().await;
            }
            inner.call(request).await
        })
    }
}

/// A request's reserved token while it waits: dropped before the wait is over (the
/// attempt timed out, the call was cancelled), the token goes back to its bucket.
struct Waiting {
    wait: std::time::Duration,
    budgets: Arc<Budgets>,
    key: BudgetKey,
}

impl Waiting {
    async fn until_sent(self) {
        if !self.wait.is_zero() {
            tokio::time::sleep(self.wait).await;
        }
        std::mem::forget(self);
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.budgets.refund(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(service: &str) -> BudgetKey {
        BudgetKey {
            account: "operator".into(),
            region: "eu-west-1".into(),
            service: service.into(),
        }
    }

    fn budgets(rate: f64, burst: f64) -> Arc<Budgets> {
        Budgets::new(BudgetSettings { rate, burst }, Metrics::default())
    }

    /// Requests sent in `seconds` when callers take tokens as fast as they are given.
    fn sent_within(budgets: &Budgets, key: &BudgetKey, start: Instant, seconds: f64) -> usize {
        let mut sent = 0;
        loop {
            let wait = budgets.reserve(key, start);
            if wait.as_secs_f64() > seconds {
                return sent;
            }
            sent += 1;
        }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let budgets = budgets(10.0, 20.0);
        let start = Instant::now();
        // The burst at once, then one token each tenth of a second: 20 + 10 × 5 in 5 s.
        assert_eq!(sent_within(&budgets, &key("ECS"), start, 5.0), 70);
    }

    #[test]
    fn buckets_are_per_account_region_and_service() {
        let budgets = budgets(1.0, 2.0);
        let now = Instant::now();
        for service in ["ECS", "IAM"] {
            assert_eq!(budgets.reserve(&key(service), now), Duration::ZERO);
            assert_eq!(budgets.reserve(&key(service), now), Duration::ZERO);
            assert!(budgets.reserve(&key(service), now) > Duration::ZERO);
        }
        let other_account = BudgetKey {
            account: "arn:aws:iam::111122223333:role/team".into(),
            ..key("ECS")
        };
        assert_eq!(budgets.reserve(&other_account, now), Duration::ZERO);
    }

    #[test]
    fn throttling_halves_the_rate_and_success_wins_it_back() {
        let budgets = budgets(20.0, 20.0);
        let bucket = key("ECS");
        budgets.reserve(&bucket, Instant::now());
        budgets.answered(&bucket, true);
        assert_eq!(budgets.rate(&bucket), Some(10.0));
        for _ in 0..10 {
            budgets.answered(&bucket, true);
        }
        assert_eq!(budgets.rate(&bucket), Some(2.0), "never below a tenth");
        for _ in 0..100 {
            budgets.answered(&bucket, false);
        }
        assert_eq!(
            budgets.rate(&bucket),
            Some(20.0),
            "back to the configured rate, no more"
        );
    }

    #[tokio::test]
    async fn a_request_abandoned_while_waiting_gives_its_token_back() {
        let budgets = budgets(1.0, 1.0);
        let bucket = key("ECS");
        let now = Instant::now();
        assert_eq!(budgets.reserve(&bucket, now), Duration::ZERO);
        // The next waits a second; abandoned, its token goes back.
        let waiting = Waiting {
            wait: budgets.reserve(&bucket, now),
            budgets: budgets.clone(),
            key: bucket.clone(),
        };
        assert_eq!(waiting.wait, Duration::from_secs(1));
        drop(waiting);
        assert_eq!(
            budgets.reserve(&bucket, now),
            Duration::from_secs(1),
            "not two"
        );
        // One that waits its turn keeps its token.
        let waiting = Waiting {
            wait: Duration::from_millis(10),
            budgets: budgets.clone(),
            key: bucket.clone(),
        };
        waiting.until_sent().await;
        assert_eq!(budgets.reserve(&bucket, now), Duration::from_secs(2));
    }

    #[test]
    fn a_replica_takes_its_share() {
        let budgets = budgets(20.0, 20.0);
        budgets.set_share(6, 12);
        let start = Instant::now();
        // Half: burst 10, then 10 a second.
        assert_eq!(sent_within(&budgets, &key("ECS"), start, 2.0), 30);
    }
}
