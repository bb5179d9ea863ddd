//! Events passed on between replicas: SQS hands each AWS event to one replica, and a
//! ScalingGroup's host change is seen by the replica of the group, but the objects the
//! change concerns may be in any replica's shards. With sharding, each replica has an
//! inbox, a ConfigMap `<prefix>-inbox-<identity>` in the Leases' namespace that it
//! watches; the replica that receives an event (or sees a host change) writes it, once,
//! to the inbox of every other live replica, which acts on it as if it had read it from
//! its queue: each replica's store holds only its own shards' objects, so every object
//! concerned is reconciled by its owner, within the time of one write and one watch
//! event.
//!
//! What is passed on is a [`Signal`] (a cluster whose hosts changed, or a [`Trigger`]), as
//! AWS named it: never state to apply, so a duplicate or a reordering is harmless. The
//! signals that arrive within [`GATHER`] go out as one entry; the receiver acts on each
//! entry once and deletes the entries it has acted on a few at a time, so an inbox stays
//! small. A replica that is just starting reads AWS afresh for every object anyway; one
//! that takes a shard lists it and reconciles its objects: what was passed on while it
//! did not hold the shard is not lost.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::hosts::{ClusterChange, HostsChanged};
use super::shards::ShardLeases;
use super::triggers::Trigger;
use crate::metrics::Metrics;

/// What one replica passes on to the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// A cluster's hosts changed.
    Hosts(ClusterChange),
    /// Something in AWS changed that an object may own.
    Trigger(Trigger),
}

/// How long the signals that follow the first are gathered into one write.
pub const GATHER: Duration = Duration::from_millis(20);

/// The most signals in one entry.
const MAX_SIGNALS: usize = 100;

/// Entries acted on are deleted once there are this many, or one is older than
/// [`STALE`].
const PRUNE_AT: usize = 16;

/// An entry older than this is not acted on (it predates this replica, which read AWS
/// afresh) and is deleted.
const STALE: Duration = Duration::from_secs(30);

/// Where the signals to pass on are queued (see [`pass_on`]).
#[derive(Clone)]
pub struct Outbox(mpsc::Sender<Signal>);

impl Outbox {
    pub fn new() -> (Self, mpsc::Receiver<Signal>) {
        let (sender, receiver) = mpsc::channel(4096);
        (Outbox(sender), receiver)
    }

    /// Queues `signal`; a full queue drops it (the resync is the safety net).
    pub fn send(&self, signal: Signal) {
        if self.0.try_send(signal).is_err() {
            tracing::debug!("the outbox is full: a signal is left to the resync");
        }
    }
}

/// The entry key of a write made at `millis` by `sender` (its `seq`th): unique, and
/// readable for its age.
fn entry_key(millis: u128, sender: &str, seq: u64) -> String {
    format!("{millis}.{sender}.{seq}")
}

/// The time in an entry key, in milliseconds since the epoch.
fn entry_millis(key: &str) -> Option<u128> {
    key.split('.').next()?.parse().ok()
}

fn now_millis() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// Writes what arrives on `signals` to the inbox of every other live replica, gathering
/// what arrives within [`GATHER`] of the first into one entry.
pub async fn pass_on(
    leases: Arc<ShardLeases>,
    mut signals: mpsc::Receiver<Signal>,
    metrics: Metrics,
) {
    let api = leases.inboxes();
    let sender = leases.inbox_suffix(&leases.identity);
    let mut seq = 0u64;
    while let Some(first) = signals.recv().await {
        let mut batch = vec![first];
        let until = tokio::time::Instant::now() + GATHER;
        while batch.len() < MAX_SIGNALS {
            match tokio::time::timeout_at(until, signals.recv()).await {
                Ok(Some(signal)) if !batch.contains(&signal) => batch.push(signal),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        seq += 1;
        let key = entry_key(now_millis(), &sender, seq);
        let body = serde_json::to_string(&batch).expect("signals serialize");
        let patch = serde_json::json!({"data": {key: body}});
        let others: Vec<String> = leases
            .members()
            .into_iter()
            .filter(|member| *member != leases.identity)
            .collect();
        let writes = others.iter().map(|member| {
            let (api, patch, name) = (api.clone(), &patch, leases.inbox(member));
            async move {
                api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
                    .map_err(|error| (name, error))
            }
        });
        for result in futures::future::join_all(writes).await {
            match result {
                Ok(_) => metrics.count_event("passed-on"),
                // A replica that has not made its inbox yet is starting: it reads AWS
                // afresh for every object.
                Err((_, kube::Error::Api(status))) if status.code == 404 => {}
                Err((name, error)) => {
                    tracing::warn!(%error, inbox = %name, "could not pass an event on to another replica; its resync will see it");
                }
            }
        }
    }
}

/// Where a replica's inbox delivers: the same places its own queues' events go, but
/// never back out (what arrives here was passed on already).
pub struct Delivery {
    pub hosts: Arc<HostsChanged>,
    pub triggers: tokio::sync::broadcast::Sender<Trigger>,
}

/// How often a replica makes sure its inbox exists (it may not have been created at
/// start, or was deleted).
const ENSURE_EVERY: Duration = Duration::from_secs(10);

/// Keeps this replica's inbox in place and acts on what arrives in it.
pub async fn receive(leases: Arc<ShardLeases>, delivery: Delivery, metrics: Metrics) {
    let api = leases.inboxes();
    let name = leases.inbox(&leases.identity);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let events = watcher(api.clone(), config).default_backoff();
    futures::pin_mut!(events);
    let mut acted: HashSet<String> = HashSet::new();
    let mut present = false;
    let mut ensure = tokio::time::interval(ENSURE_EVERY);
    loop {
        tokio::select! {
            event = events.next() => match event {
                None => return,
                Some(Ok(watcher::Event::Init | watcher::Event::Delete(_))) => present = false,
                Some(Ok(watcher::Event::Apply(inbox) | watcher::Event::InitApply(inbox))) => {
                    present = true;
                    act(&api, &name, inbox, &mut acted, &delivery, &metrics).await;
                }
                Some(Ok(watcher::Event::InitDone) | Err(_)) => {}
            },
            _ = ensure.tick() => {
                if !present {
                    create(&api, &name).await;
                }
            }
        }
    }
}

async fn create(api: &kube::Api<ConfigMap>, name: &str) {
    let mut inbox = ConfigMap::default();
    inbox.metadata.name = Some(name.to_string());
    inbox.metadata.labels = Some(BTreeMap::from([(
        "app.kubernetes.io/name".to_string(),
        "ecsfleet".to_string(),
    )]));
    match api.create(&PostParams::default(), &inbox).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 409 => {}
        Err(error) => {
            tracing::warn!(%error, inbox = %name, "could not create this replica's inbox; trying again")
        }
    }
}

/// Acts on the entries of `inbox` not acted on yet, then deletes those acted on when
/// they are many or old.
async fn act(
    api: &kube::Api<ConfigMap>,
    name: &str,
    inbox: ConfigMap,
    acted: &mut HashSet<String>,
    delivery: &Delivery,
    metrics: &Metrics,
) {
    let data = inbox.data.unwrap_or_default();
    let now = now_millis();
    let stale =
        |key: &str| entry_millis(key).is_none_or(|at| now.saturating_sub(at) > STALE.as_millis());
    for (key, body) in &data {
        if stale(key) || !acted.insert(key.clone()) {
            continue;
        }
        let Ok(signals) = serde_json::from_str::<Vec<Signal>>(body) else {
            continue;
        };
        metrics.count_event("received");
        tracing::debug!(entry = %key, signals = signals.len(), "acting on what another replica passed on");
        for signal in signals {
            match signal {
                Signal::Hosts(change) => delivery.hosts.announce(change),
                Signal::Trigger(trigger) => {
                    let _ = delivery.triggers.send(trigger);
                }
            }
        }
    }
    acted.retain(|key| data.contains_key(key));
    let done: Vec<&String> = data
        .keys()
        .filter(|key| stale(key) || acted.contains(*key))
        .collect();
    if done.len() >= PRUNE_AT || done.iter().any(|key| stale(key)) {
        let removed: BTreeMap<&String, ()> = done.into_iter().map(|key| (key, ())).collect();
        let patch = serde_json::json!({"data": removed});
        if let Err(error) = api
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            tracing::warn!(%error, inbox = %name, "could not empty this replica's inbox");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_travel_as_json_and_entry_keys_tell_their_age() {
        let signals = vec![
            Signal::Hosts(ClusterChange {
                region: "eu-west-1".into(),
                cluster: "workers".into(),
            }),
            Signal::Trigger(Trigger::Service {
                region: "eu-west-1".into(),
                cluster: "workers".into(),
                service: "agent".into(),
            }),
        ];
        let body = serde_json::to_string(&signals).unwrap();
        assert_eq!(serde_json::from_str::<Vec<Signal>>(&body).unwrap(), signals);
        let key = entry_key(1_765_000_000_123, "ecsfleet-6d5f-x2k4p", 7);
        assert_eq!(entry_millis(&key), Some(1_765_000_000_123));
        // A ConfigMap key: letters, digits, '-', '_', '.'.
        assert!(
            key.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        assert_eq!(entry_millis("garbage"), None);
    }
}
