//! Sharded watches: each replica lists, watches and keeps in memory only the objects of
//! the shards it holds, so that memory and watch load are divided by the replicas.
//!
//! An object's shard is written on it as two labels ([`super::shards::SHARD_LABEL`],
//! [`super::shards::SHARDS_LABEL`]):
//! - a new object (or one labelled for another `--shards`) is seen by every replica's
//!   watch of *unplaced* objects (usually empty); the replica that holds its shard labels
//!   it, once, and the object moves to that replica's labelled watch;
//! - each replica watches with a label selector for the shards it holds; when it takes or
//!   hands over a shard, the watch is listed again with the new selector and the store
//!   replaced at once when the listing is complete (kube's reflector), so the objects of
//!   a shard taken are reconciled as soon as they are listed and those of a shard handed
//!   over are forgotten;
//! - an object whose labels no longer say its shard (its cluster changed under
//!   `--shard-key cluster`, or the key changed) is labelled again by the replica that
//!   watches it, which moves it to the replica of its shard.
//!
//! Writes stay gated by the shard Leases ([`Shards::enter`]): a label or a watch that is
//! behind by a moment never lets two replicas reconcile one object.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::reflector::{ObjectRef, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Resource, ResourceExt};
use tokio::sync::{broadcast, mpsc};

use super::Managed;
use super::controller::trim;
use super::shards::Shards;

/// How long a watch waits after a change of the shards held before listing again, so
/// that the shards a round takes one after another cost one listing.
const SETTLE: Duration = Duration::from_millis(200);

/// How often unplaced objects of held shards are labelled again when a label write
/// failed (the object was being deleted, the API server did not answer).
const RELABEL_AGAIN: Duration = Duration::from_secs(30);

/// An object to (re)label: namespace, name, its shard.
type Placement = (String, String, u32);

/// The objects of the shards `shards` holds, for a kube `Controller`: the listing and
/// watch of `api` with the held shards' label selector, restarted with the new selector
/// whenever the shards held change. `writer` keeps the reflector store (trimmed copies,
/// see [`trim`]). An object is passed on when it changes, or when a listing finds it
/// new or changed since the store's copy (the objects of a shard just taken): taking or
/// handing over a shard does not reconcile the objects of the shards that stayed again.
///
/// Also labels the objects it should: see the module's description.
pub fn labelled_objects<K: Managed>(
    api: Api<DeserializeGuard<K>>,
    config: watcher::Config,
    writer: Writer<DeserializeGuard<K>>,
    shards: Arc<Shards>,
    metrics: crate::metrics::Metrics,
) -> impl Stream<Item = Result<DeserializeGuard<K>, watcher::Error>> + Send + 'static {
    let (label, labels) = mpsc::channel::<Placement>(1024);
    tokio::spawn(write_labels(api.clone(), labels, shards.clone(), metrics));
    tokio::spawn(label_unplaced(
        api.clone(),
        config.clone(),
        shards.clone(),
        label.clone(),
    ));
    let (objects, received) = mpsc::channel(256);
    tokio::spawn(watch_held(api, config, writer, shards, label, objects));
    futures::stream::unfold(received, |mut received| async move {
        received.recv().await.map(|item| (item, received))
    })
}

/// The watch of the held shards, restarted when they change; see [`labelled_objects`].
async fn watch_held<K: Managed>(
    api: Api<DeserializeGuard<K>>,
    config: watcher::Config,
    mut writer: Writer<DeserializeGuard<K>>,
    shards: Arc<Shards>,
    label: mpsc::Sender<Placement>,
    objects: mpsc::Sender<Result<DeserializeGuard<K>, watcher::Error>>,
) {
    let mut changes = shards.subscribe();
    loop {
        let held = shards.held();
        let selector = shards.selector(&held);
        tracing::debug!(kind = %K::kind(&()), %selector, "watching the held shards");
        let events = watcher(api.clone(), config.clone().labels(&selector)).default_backoff();
        futures::pin_mut!(events);
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else { return };
                    let item = match event {
                        Ok(event) => {
                            let event = event.modify(|guard| {
                                misplaced(guard, &shards, &label);
                                trim(guard);
                            });
                            let passed = pass_on(&event, &writer);
                            writer.apply_watcher_event(&event);
                            match passed {
                                Some(guard) => Ok(guard),
                                None => continue,
                            }
                        }
                        Err(error) => Err(error),
                    };
                    if objects.send(item).await.is_err() {
                        return; // The controller has stopped.
                    }
                }
                change = changes.recv() => {
                    if matches!(change, Err(broadcast::error::RecvError::Closed)) {
                        return;
                    }
                    tokio::time::sleep(SETTLE).await;
                    while changes.try_recv().is_ok() {}
                    if shards.held() != held {
                        break; // List again with the new selector.
                    }
                }
            }
        }
    }
}

/// The object an event makes the controller reconcile: a change, or an object a listing
/// finds that the store did not have as it is (new here, or changed while the watch was
/// being restarted).
fn pass_on<K: Managed>(
    event: &watcher::Event<DeserializeGuard<K>>,
    writer: &Writer<DeserializeGuard<K>>,
) -> Option<DeserializeGuard<K>> {
    match event {
        watcher::Event::Apply(guard) => Some(guard.clone()),
        watcher::Event::InitApply(guard) => {
            let stored = writer.as_reader().get(&ObjectRef::from_obj(guard));
            let same = stored.is_some_and(|stored| {
                stored.meta().resource_version.is_some()
                    && stored.meta().resource_version == guard.meta().resource_version
            });
            (!same).then(|| guard.clone())
        }
        _ => None,
    }
}

/// Asks for `guard` to be labelled again when its labels do not name its shard.
fn misplaced<K: Managed>(
    guard: &DeserializeGuard<K>,
    shards: &Shards,
    label: &mpsc::Sender<Placement>,
) {
    let shard = shards.shard_of(guard);
    if !shards.labelled(guard.meta().labels.as_ref(), shard) {
        let _ = label.try_send((
            guard.namespace().unwrap_or_default(),
            guard.name_any(),
            shard,
        ));
    }
}

/// Every replica's watch of the objects not placed yet: each is labelled by the replica
/// that holds its shard, when it takes it if nobody held it yet. Keeps only names.
async fn label_unplaced<K: Managed>(
    api: Api<DeserializeGuard<K>>,
    config: watcher::Config,
    shards: Arc<Shards>,
    label: mpsc::Sender<Placement>,
) {
    let events = watcher(api, config.labels(&shards.unplaced_selector()))
        .default_backoff()
        .modify(trim::<DeserializeGuard<K>>);
    futures::pin_mut!(events);
    let mut changes = shards.subscribe();
    // Unplaced objects by (namespace, name): their shard.
    let mut unplaced: HashMap<(String, String), u32> = HashMap::new();
    let mut listing: HashMap<(String, String), u32> = HashMap::new();
    let mut again = tokio::time::interval(RELABEL_AGAIN);
    again.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // The objects of held shards among those given, to label.
        let held = |unplaced: &HashMap<(String, String), u32>, only: Option<u32>| {
            unplaced
                .iter()
                .filter(|(_, shard)| only.is_none_or(|only| only == **shard))
                .filter(|(_, shard)| shards.holds(**shard))
                .map(|((namespace, name), shard)| (namespace.clone(), name.clone(), *shard))
                .collect::<Vec<Placement>>()
        };
        let placements = tokio::select! {
            event = events.next() => {
                let Some(event) = event else { return };
                let Ok(event) = event else { continue };
                let key = |guard: &DeserializeGuard<K>| (guard.namespace().unwrap_or_default(), guard.name_any());
                match event {
                    watcher::Event::Init => {
                        listing.clear();
                        Vec::new()
                    }
                    watcher::Event::InitApply(guard) => {
                        listing.insert(key(&guard), shards.shard_of(&guard));
                        Vec::new()
                    }
                    watcher::Event::InitDone => {
                        unplaced = std::mem::take(&mut listing);
                        held(&unplaced, None)
                    }
                    watcher::Event::Apply(guard) => {
                        let (namespace, name) = key(&guard);
                        let shard = shards.shard_of(&guard);
                        unplaced.insert((namespace.clone(), name.clone()), shard);
                        if shards.holds(shard) { vec![(namespace, name, shard)] } else { Vec::new() }
                    }
                    watcher::Event::Delete(guard) => {
                        unplaced.remove(&key(&guard));
                        // Labelled at last: give back the room thousands of new objects took.
                        if unplaced.capacity() > 64 && unplaced.len() * 4 < unplaced.capacity() {
                            unplaced.shrink_to_fit();
                        }
                        Vec::new()
                    }
                }
            }
            change = changes.recv() => match change {
                Ok(shard) => held(&unplaced, Some(shard)),
                Err(broadcast::error::RecvError::Lagged(_)) => held(&unplaced, None),
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = again.tick() => held(&unplaced, None),
        };
        // Waits while the labels are written: thousands of new objects are labelled at the
        // pace of the API server, none dropped.
        for placement in placements {
            if label.send(placement).await.is_err() {
                return;
            }
        }
    }
}

/// Writes the shard labels asked for, a few at a time. A label already right costs
/// nothing more than the request (the API server writes nothing).
async fn write_labels<K: Managed>(
    api: Api<DeserializeGuard<K>>,
    labels: mpsc::Receiver<Placement>,
    shards: Arc<Shards>,
    metrics: crate::metrics::Metrics,
) {
    let client: kube::Client = api.into_client();
    let placements = futures::stream::unfold(labels, |mut labels| async move {
        labels.recv().await.map(|item| (item, labels))
    });
    placements
        .for_each_concurrent(8, |(namespace, name, shard)| {
            let api: Api<K> = Api::namespaced(client.clone(), &namespace);
            let metrics = metrics.clone();
            let labels = BTreeMap::from(shards.labels(shard));
            async move {
                let patch = serde_json::json!({"metadata": {"labels": labels}});
                match api
                    .patch_metadata(&name, &PatchParams::default(), &Patch::Merge(&patch))
                    .await
                {
                    Ok(_) => metrics.count_shard_label(&K::kind(&())),
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => {
                        tracing::warn!(%error, object = %format!("{namespace}/{name}"), "could not label the object with its shard; trying again later");
                    }
                }
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration_role::IntegrationRole;
    use crate::runtime::shards::ShardKey;
    use kube::runtime::reflector;

    fn role(name: &str, version: &str) -> DeserializeGuard<IntegrationRole> {
        let mut role: IntegrationRole = serde_yaml_ng::from_str(&format!(
            "apiVersion: ecsfleet.dev/v1alpha1\nkind: IntegrationRole\nmetadata: {{name: {name}, namespace: team}}\nspec: {{roleName: r, trust: {{principals: ['464622532012'], allowWithoutExternalId: true}}}}\n"
        ))
        .unwrap();
        role.metadata.resource_version = Some(version.into());
        DeserializeGuard(Ok(role))
    }

    #[test]
    fn a_listing_passes_on_only_what_the_store_did_not_have_as_it_is() {
        let (_, mut writer) = reflector::store::<DeserializeGuard<IntegrationRole>>();
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitApply(role("kept", "1")));
        writer.apply_watcher_event(&watcher::Event::InitApply(role("changed", "1")));
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let listed = |guard| pass_on(&watcher::Event::InitApply(guard), &writer).is_some();
        assert!(
            !listed(role("kept", "1")),
            "unchanged: not reconciled again"
        );
        assert!(
            listed(role("changed", "2")),
            "changed while the watch restarted"
        );
        assert!(
            listed(role("taken", "7")),
            "an object of a shard just taken"
        );
        assert!(
            pass_on(&watcher::Event::Apply(role("kept", "1")), &writer).is_some(),
            "a watch event always"
        );
        assert!(pass_on(&watcher::Event::InitDone, &writer).is_none());
    }

    #[test]
    fn an_object_labelled_for_another_shard_or_count_is_labelled_again() {
        let shards = Shards::new(4, ShardKey::Namespace);
        let (label, mut labels) = mpsc::channel(4);
        let mut guard = role("vendor", "1");
        let shard = shards.shard_of(&guard);
        misplaced(&guard, &shards, &label);
        assert_eq!(
            labels.try_recv().unwrap(),
            ("team".into(), "vendor".into(), shard),
            "unlabelled"
        );
        let set = |guard: &mut DeserializeGuard<IntegrationRole>, shard: u32, count: u32| {
            guard.0.as_mut().unwrap().metadata.labels = Some(BTreeMap::from([
                ("ecsfleet.dev/shard".to_string(), shard.to_string()),
                ("ecsfleet.dev/shards".to_string(), count.to_string()),
            ]));
        };
        set(&mut guard, shard, 4);
        misplaced(&guard, &shards, &label);
        assert!(labels.try_recv().is_err(), "placed right");
        set(&mut guard, (shard + 1) % 4, 4);
        misplaced(&guard, &shards, &label);
        assert_eq!(labels.try_recv().unwrap().2, shard, "another shard");
        set(&mut guard, shard, 8);
        misplaced(&guard, &shards, &label);
        assert_eq!(labels.try_recv().unwrap().2, shard, "another --shards");
    }
}
