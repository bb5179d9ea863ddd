//! The in-cluster controller: watches, finalizer, status by server-side apply, events,
//! per-object backoff and bounded concurrency. Generic over the kind.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::{self, Action};
use kube::runtime::events::{EventType, Recorder, Reporter};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::{Instrument, info, info_span, warn};

use super::fairness::Fairness;
use super::report::{
    change_event, deleting_status, failure_event, is_ready, next_status, undecodable_status,
};
use super::shards::{ShardGuard, Shards};
use super::turns::resync_turns;
use super::{Managed, Pipeline};
use crate::common::DeletionPolicy;
use crate::{Error, FIELD_MANAGER, FINALIZER};

/// Settings of `ecsfleet run`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Namespaces to watch; empty means all.
    pub namespaces: Vec<String>,
    pub resync: Duration,
    pub concurrency: usize,
}

/// Shared by every reconcile of one kind.
pub struct Context<K: Managed> {
    pub client: Client,
    pub pipeline: Pipeline<K>,
    pub recorder: Events,
    pub settings: Settings,
    permits: Semaphore,
    /// Each namespace's share of the permits.
    fairness: Fairness,
    /// Consecutive retryable failures per object, for backoff.
    failures: Mutex<HashMap<String, u32>>,
    /// With sharding: the shards this replica holds; objects of others are left alone.
    shards: Option<Arc<Shards>>,
}

impl<K: Managed> Context<K> {
    pub fn new(client: Client, pipeline: Pipeline<K>, settings: Settings) -> Self {
        let recorder = Events::new(
            client.clone(),
            Reporter {
                controller: "ecsfleet".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Context {
            permits: Semaphore::new(settings.concurrency.max(1)),
            fairness: Fairness::new(settings.concurrency, settings.resync),
            client,
            pipeline,
            recorder,
            settings,
            failures: Mutex::default(),
            shards: None,
        }
    }

    /// Resolves once no reconcile holds a permit, and keeps every permit: a reconcile
    /// in flight finishes first, and none starts after (the semaphore is fair).
    async fn drained(&self) {
        let all = u32::try_from(self.settings.concurrency.max(1)).unwrap_or(u32::MAX);
        if let Ok(permits) = self.permits.acquire_many(all).await {
            permits.forget();
        }
    }

    /// Reconciles only the objects of the shards held in `shards`.
    pub fn sharded(mut self, shards: Arc<Shards>) -> Self {
        self.shards = Some(shards);
        self
    }
}

/// kube's event `Recorder`, remembering only what can repeat, and dropped once everything
/// it remembers has expired.
///
/// The Recorder keeps every Event it published for six minutes (to count repeats into
/// one Event's series) and prunes that cache only when it publishes the next one: after
/// a burst (say 1,000 objects created: 9 MiB) it holds it all until the next Event,
/// however long that takes. Two cuts:
/// - A Normal Event reports a change made to AWS. A change is made once: the next
///   reconcile finds it done. So a Normal Event is published through a Recorder of its
///   own, dropped with its cache at once; a change made again (drift repaired again) is
///   a new Event, as it is a new write. Warnings (a failure retried with backoff) are the
///   Events that repeat, and only they go through the shared, remembering Recorder.
/// - Once nothing was published for longer than the cache keeps an entry, every entry
///   has expired, and a fresh Recorder behaves exactly the same: the reconciles swap it
///   in, and the old cache is freed.
pub struct Events {
    client: Client,
    reporter: Reporter,
    recorder: std::sync::RwLock<Arc<Recorder>>,
    /// When the last Event was published, while the cache may hold a live entry.
    last_publish: Mutex<Option<Instant>>,
}

/// How long kube's Recorder keeps a published Event (its `CACHE_TTL`).
const EVENT_CACHE_TTL: Duration = Duration::from_secs(6 * 60);

impl Events {
    pub fn new(client: Client, reporter: Reporter) -> Self {
        let recorder = Recorder::new(client.clone(), reporter.clone());
        Events {
            client,
            reporter,
            recorder: std::sync::RwLock::new(Arc::new(recorder)),
            last_publish: Mutex::default(),
        }
    }

    pub async fn publish(
        &self,
        event: &kube::runtime::events::Event,
        reference: &k8s_openapi::api::core::v1::ObjectReference,
    ) -> Result<(), kube::Error> {
        if event.type_ == EventType::Normal {
            return Recorder::new(self.client.clone(), self.reporter.clone())
                .publish(event, reference)
                .await;
        }
        let recorder = self.recorder.read().expect("recorder lock").clone();
        *self.last_publish.lock().expect("events lock") = Some(Instant::now());
        recorder.publish(event, reference).await
    }

    /// Swaps in a fresh Recorder when every entry of the current one's cache has
    /// expired. Cheap otherwise: called by every reconcile. Returns whether it swapped.
    pub fn drop_expired(&self) -> bool {
        let mut last = self.last_publish.lock().expect("events lock");
        if !last.is_some_and(|at| at.elapsed() > EVENT_CACHE_TTL) {
            return false;
        }
        let fresh = Recorder::new(self.client.clone(), self.reporter.clone());
        *self.recorder.write().expect("recorder lock") = Arc::new(fresh);
        *last = None;
        true
    }
}

/// The reflector stores of the watched namespaces, for `Directory::Stores`.
pub type Stores<K> = Vec<kube::runtime::reflector::Store<DeserializeGuard<K>>>;

/// Resolves once every store in `stores` has received its first full listing.
///
/// A store's readiness is a one-shot that wakes only the last task waiting on it, and the
/// controller's own runner waits on the same store: a second waiter would never be woken.
/// So each wait is bounded and polled again; once the listing has arrived, the next
/// poll returns at once.
pub async fn wait_until_synced<K: Managed>(stores: &Stores<K>) {
    for store in stores {
        loop {
            match tokio::time::timeout(Duration::from_millis(250), store.wait_until_ready()).await {
                Ok(Ok(())) => break,
                // The writer is gone: the controller has stopped; nothing will sync.
                Ok(Err(_)) => return,
                Err(_elapsed) => continue,
            }
        }
    }
}

/// Drops what the controller never reads from the copy every watched object keeps in
/// memory: `managedFields` (one entry per field manager), labels, and annotations other
/// than ecsfleet's own (`ecsfleet.dev/…`; reconciles read those alone). kubectl's
/// last-applied annotation is often most of an object's size, and GitOps tools label and
/// annotate every object they apply (Argo CD's tracking, Flux's and Helm's ownership),
/// each map a B-tree node of about half a KiB in every stored object.
pub fn trim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    meta.labels = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with(OWN_ANNOTATIONS));
        if annotations.is_empty() {
            meta.annotations = None;
        }
    }
}

/// The prefix of the annotations reconciles read (e.g. IntegrationRole's
/// `ecsfleet.dev/rotate-external-id`).
const OWN_ANNOTATIONS: &str = "ecsfleet.dev/";

/// One API per watched namespace, or one for all.
fn watched_apis<K: Managed>(client: &Client, settings: &Settings) -> Vec<Api<DeserializeGuard<K>>> {
    if settings.namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        settings
            .namespaces
            .iter()
            .map(|ns| Api::namespaced(client.clone(), ns))
            .collect()
    }
}

fn watch_config() -> watcher::Config {
    watcher::Config::default().any_semantic()
}

/// Builds one controller per watched namespace (or one for all). Call `stores()` on the
/// result to share what is watched, then `run`.
pub struct Controllers<K: Managed> {
    controllers: Vec<Controller<DeserializeGuard<K>>>,
}

impl<K: Managed> Controllers<K> {
    /// Watches every object of the kind in `settings`' namespaces.
    pub fn new(client: &Client, settings: &Settings) -> Self {
        Controllers {
            controllers: watched_apis(client, settings)
                .into_iter()
                .map(|api| {
                    let (reader, writer) = reflector::store();
                    // Backoff on watch errors (an unreachable API server is retried with
                    // growing pauses, not in a loop), and the stored copies trimmed.
                    let objects = watcher(api, watch_config())
                        .default_backoff()
                        .modify(trim::<DeserializeGuard<K>>)
                        .reflect(writer)
                        .applied_objects();
                    Controller::for_stream(objects, reader)
                })
                .collect(),
        }
    }

    /// Watches only the objects of the shards `shards` holds (see [`super::sharded_watch`]).
    pub fn sharded(
        client: &Client,
        settings: &Settings,
        shards: &Arc<Shards>,
        metrics: &crate::metrics::Metrics,
    ) -> Self {
        Controllers {
            controllers: watched_apis(client, settings)
                .into_iter()
                .map(|api| {
                    let (reader, writer) = reflector::store();
                    let objects = super::sharded_watch::labelled_objects(
                        api,
                        watch_config(),
                        writer,
                        shards.clone(),
                        metrics.clone(),
                    );
                    Controller::for_stream(objects, reader)
                })
                .collect(),
        }
    }

    /// Also reconciles the objects that `triggers` names, given each watch's store.
    pub fn reconcile_on<S>(
        mut self,
        triggers: impl Fn(kube::runtime::reflector::Store<DeserializeGuard<K>>) -> S,
    ) -> Self
    where
        S: futures::Stream<Item = kube::runtime::reflector::ObjectRef<DeserializeGuard<K>>>
            + Send
            + 'static,
    {
        self.controllers = self
            .controllers
            .into_iter()
            .map(|controller| {
                let store = controller.store();
                controller.reconcile_on(triggers(store))
            })
            .collect();
        self
    }

    pub fn stores(&self) -> Stores<K> {
        self.controllers.iter().map(|c| c.store()).collect()
    }

    /// Runs until `shutdown` turns true; in-flight reconciles finish first. Ends as soon
    /// as none is in flight: kube's controller also waits for its watch to end, which an
    /// unreachable API server delays until the process's shutdown timeout.
    pub async fn run(self, context: Arc<Context<K>>, shutdown: tokio::sync::watch::Receiver<bool>) {
        // Twice the permits: a namespace holds at most as many as there are permits
        // (`Fairness`), so the other half lets another namespace's objects through at once.
        let concurrency = (context.settings.concurrency.max(1) * 2).min(u16::MAX as usize) as u16;
        let stores = self.stores();
        let runs = self.controllers.into_iter().map(|controller| {
            let turns = resync_turns(
                controller.store(),
                context.settings.resync,
                context.shards.clone(),
            );
            controller
                .reconcile_on(turns)
                .with_config(controller::Config::default().concurrency(concurrency))
                .graceful_shutdown_on({
                    let mut shutdown = shutdown.clone();
                    async move {
                        let _ = shutdown.wait_for(|stop| *stop).await;
                    }
                })
                .run(reconcile::<K>, error_policy::<K>, context.clone())
                .for_each(|result| async move {
                    if let Err(error) = result {
                        tracing::debug!(error = %crate::redact::scrub(&error.to_string()), "reconcile ended with an error");
                    }
                })
        });
        let watched = {
            let metrics = context.pipeline.env.metrics().clone();
            async move {
                loop {
                    let count = stores.iter().map(|store| store.len()).sum::<usize>();
                    metrics.set_watched_objects(&K::kind(&()), count);
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        };
        let drained = {
            let mut shutdown = shutdown.clone();
            let context = context.clone();
            async move {
                let _ = shutdown.wait_for(|stop| *stop).await;
                context.drained().await;
            }
        };
        tokio::select! {
            _ = futures::future::join_all(runs) => {}
            _ = drained => {}
            _ = watched => {}
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ReconcileError(#[from] Error);

fn key<K: Resource>(obj: &K) -> String {
    super::object_key(obj.meta())
}

/// One reconcile of one object: the finalizer, then sync or cleanup, status and events.
/// Public so that the Kubernetes I/O can be tested against a mocked API server.
pub async fn reconcile<K: Managed>(
    guard: Arc<DeserializeGuard<K>>,
    context: Arc<Context<K>>,
) -> Result<Action, ReconcileError> {
    let _shard = match enter_shard(&*guard, &context) {
        Entered::Ours(shard) => shard,
        // Another replica's (a watch a moment behind a hand-over, or an object being
        // labelled anew): when this replica takes the shard, its watch lists the
        // shard's objects and they are reconciled at once.
        Entered::Theirs => return Ok(Action::await_change()),
    };
    let obj = match &guard.0 {
        Ok(obj) => Arc::new(obj.clone()),
        Err(invalid) => return report_undecodable::<K>(invalid, &context).await,
    };
    context.recorder.drop_expired();
    let span = info_span!("reconcile", kind = %K::kind(&()), object = %key(&*obj));
    let namespace = obj.namespace().unwrap_or_default();
    let _slot = match context.fairness.enter(&namespace, &key(&*obj)) {
        Ok(slot) => slot,
        // Over the namespace's share: the slot goes to the next object, of any namespace.
        Err(wait) => return Ok(Action::requeue(wait)),
    };
    async {
        let _permit = context.permits.acquire().await.expect("semaphore open");
        let started = Instant::now();
        let api: Api<K> =
            Api::namespaced(context.client.clone(), &obj.namespace().unwrap_or_default());
        let result = finalizer(
            &api,
            FINALIZER,
            obj,
            |event| -> BoxFuture<'_, Result<Action, Error>> {
                match event {
                    finalizer::Event::Apply(obj) => Box::pin(apply(obj, &context, &api)),
                    finalizer::Event::Cleanup(obj) => Box::pin(cleanup(obj, &context, &api)),
                }
            },
        )
        .await;
        let kind = K::kind(&());
        let metrics = context.pipeline.env.metrics();
        metrics.observe_reconcile_duration(&kind, started.elapsed().as_secs_f64());
        context.fairness.took(started.elapsed());
        metrics.count_reconcile(&kind, if result.is_ok() { "success" } else { "error" });
        result.map_err(|error| match error {
            finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e) => e.into(),
            finalizer::Error::AddFinalizer(e) | finalizer::Error::RemoveFinalizer(e) => {
                Error::from(e).into()
            }
            other => Error::NotReady(other.to_string()).into(),
        })
    }
    .instrument(span)
    .await
}

enum Entered {
    Ours(Option<ShardGuard>),
    Theirs,
}

/// Whether this replica reconciles `guard`'s object (always, without sharding). An
/// object of another replica's shard is forgotten here: its readiness is that replica's
/// to report.
fn enter_shard<K: Managed>(guard: &DeserializeGuard<K>, context: &Context<K>) -> Entered {
    let Some(shards) = &context.shards else {
        return Entered::Ours(None);
    };
    match shards.enter(guard) {
        Some(shard) => Entered::Ours(Some(shard)),
        None => {
            context.pipeline.env.metrics().forget_object(
                &K::kind(&()),
                &guard.namespace().unwrap_or_default(),
                &guard.name_any(),
            );
            Entered::Theirs
        }
    }
}

fn now() -> Time {
    Time(Timestamp::now())
}

async fn patch_status<K: Managed>(api: &Api<K>, obj: &K, status: &K::Status) -> Result<(), Error> {
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

async fn publish<K: Managed>(context: &Context<K>, obj: &K, event: kube::runtime::events::Event) {
    if let Err(error) = context.recorder.publish(&event, &obj.object_ref(&())).await {
        warn!(%error, "could not publish an event");
    }
}

async fn apply<K: Managed>(
    obj: Arc<K>,
    context: &Context<K>,
    api: &Api<K>,
) -> Result<Action, Error> {
    // Refused as it stands, and reported so: nothing to do until the object changes.
    if context.pipeline.refused_unchanged(&obj) {
        return Ok(Action::await_change());
    }
    let result = context.pipeline.sync(&obj).await;
    match &result {
        Ok(outcome) => {
            for change in &outcome.applied {
                info!(action = %change.action, target = %change.target, detail = %change.detail, "applied");
                publish(context, &*obj, change_event(change)).await;
            }
            context
                .pipeline
                .env
                .metrics()
                .count_drift_repairs(&K::kind(&()), outcome.drift_repairs);
        }
        Err(error) => {
            warn!(reason = %error.reason(), error = %error.redacted(), "sync failed");
            publish(context, &*obj, failure_event(error, "Reconcile")).await;
        }
    }
    let next = next_status(&*obj, &result, &now());
    if let Some(status) = &next {
        patch_status(api, &obj, status).await?;
    }
    context.pipeline.env.metrics().set_object_ready(
        &K::kind(&()),
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
        is_ready::<K>(next.as_ref().or(obj.status())),
    );
    result?;
    context
        .failures
        .lock()
        .expect("failures lock")
        .remove(&key(&*obj));
    // Back at its group's turn (`turns`), or sooner on a change or an AWS event.
    Ok(Action::await_change())
}

async fn cleanup<K: Managed>(
    obj: Arc<K>,
    context: &Context<K>,
    api: &Api<K>,
) -> Result<Action, Error> {
    context.pipeline.env.metrics().forget_object(
        &K::kind(&()),
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
    );
    if obj.common_spec().deletion_policy == DeletionPolicy::Orphan {
        info!("deletionPolicy Orphan: leaving the AWS resources");
        return Ok(Action::await_change());
    }
    context.pipeline.forget(&obj);
    if let Some(status) = deleting_status(&*obj, &now()) {
        patch_status(api, &obj, &status).await?;
    }
    match context.pipeline.delete(&obj).await {
        Ok(changes) => {
            for change in &changes {
                info!(action = %change.action, detail = %change.detail, "cleaned up");
                publish(context, &*obj, change_event(change)).await;
            }
            Ok(Action::await_change())
        }
        Err(error) => {
            warn!(error = %error.redacted(), "cleanup failed");
            publish(context, &*obj, failure_event(&error, "Cleanup")).await;
            Err(error)
        }
    }
}

/// An object that does not decode (a field of the wrong type that the schema let
/// through): report it on the object and wait for a change, without retrying.
async fn report_undecodable<K: Managed>(
    invalid: &kube::core::error_boundary::InvalidObject,
    context: &Context<K>,
) -> Result<Action, ReconcileError> {
    let meta = &invalid.metadata;
    let (Some(namespace), Some(name)) = (&meta.namespace, &meta.name) else {
        return Ok(Action::await_change());
    };
    warn!(object = %format!("{namespace}/{name}"), error = %invalid.error, "object does not decode");
    let api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        context.client.clone(),
        namespace,
        &kube::api::ApiResource::erase::<K>(&()),
    );
    let message = format!("spec: {}", invalid.error);
    let patch = json!({
        "apiVersion": K::api_version(&()), "kind": K::kind(&()),
        "status": undecodable_status(&message, meta.generation, &now()),
    });
    if let Err(error) = api
        .patch_status(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await
    {
        warn!(%error, "could not report the undecodable object on its status");
    }
    let reference = k8s_openapi::api::core::v1::ObjectReference {
        api_version: Some(K::api_version(&()).into()),
        kind: Some(K::kind(&()).into()),
        namespace: Some(namespace.clone()),
        name: Some(name.clone()),
        uid: meta.uid.clone(),
        ..Default::default()
    };
    let event = failure_event(&Error::invalid("spec", invalid.error.clone()), "Decode");
    if let Err(error) = context.recorder.publish(&event, &reference).await {
        warn!(%error, "could not publish an event");
    }
    Ok(Action::await_change())
}

/// What the controller does after a failed reconcile: see [`Context::retry_delay`].
pub fn error_policy<K: Managed>(
    guard: Arc<DeserializeGuard<K>>,
    error: &ReconcileError,
    context: Arc<Context<K>>,
) -> Action {
    match &guard.0 {
        Ok(obj) => match context.retry_delay(&key(obj), &error.0) {
            Some(delay) => Action::requeue(delay),
            None => Action::await_change(),
        },
        Err(_) => Action::await_change(),
    }
}

impl<K: Managed> Context<K> {
    /// Retryable failures back off exponentially with jitter (5 s doubling, capped at the
    /// resync interval); terminal ones (`None`) wait for the object's resync turn or a
    /// spec change. Never hot. A successful reconcile resets the object's count.
    pub fn retry_delay(&self, object: &str, error: &Error) -> Option<Duration> {
        let resync = self.settings.resync;
        if !error.is_retryable() {
            return None;
        }
        let attempts = {
            let mut failures = self.failures.lock().expect("failures lock");
            let count = failures.entry(object.to_string()).or_default();
            *count = count.saturating_add(1);
            *count
        };
        Some(backoff(attempts, resync))
    }
}

/// `5s · 2^(attempts-1)`, capped at `cap`, with up to 20% jitter either way.
pub fn backoff(attempts: u32, cap: Duration) -> Duration {
    let base = Duration::from_secs(5).saturating_mul(1 << attempts.saturating_sub(1).min(16));
    let base = base.min(cap).max(Duration::from_secs(1));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = (f64::from(nanos % 1000) / 1000.0 - 0.5) * 0.4;
    base.mul_f64(1.0 + jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_event_cache_is_dropped_only_once_every_entry_has_expired() {
        let (service, _handle) = tower_test::mock::pair::<
            http::Request<kube::client::Body>,
            http::Response<kube::client::Body>,
        >();
        let events = Events::new(
            Client::new(service, "default"),
            Reporter {
                controller: "ecsfleet".into(),
                instance: None,
            },
        );
        let current = || Arc::as_ptr(&events.recorder.read().unwrap());
        let first = current();
        // Nothing published yet: nothing to drop.
        assert!(!events.drop_expired());
        // Published a minute ago: its entry is live.
        *events.last_publish.lock().unwrap() = Some(Instant::now() - Duration::from_secs(60));
        assert!(!events.drop_expired());
        assert_eq!(current(), first);
        // Published longer ago than the cache keeps anything: a fresh Recorder, once.
        *events.last_publish.lock().unwrap() =
            Some(Instant::now() - EVENT_CACHE_TTL - Duration::from_secs(1));
        assert!(events.drop_expired());
        assert_ne!(current(), first);
        assert!(!events.drop_expired());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let cap = Duration::from_secs(60);
        let first = backoff(1, cap);
        assert!(
            first >= Duration::from_secs(4) && first <= Duration::from_secs(6),
            "{first:?}"
        );
        let third = backoff(3, cap);
        assert!(
            third >= Duration::from_secs(16) && third <= Duration::from_secs(24),
            "{third:?}"
        );
        for attempts in [10, 40, u32::MAX] {
            assert!(backoff(attempts, cap) <= Duration::from_secs(72));
        }
    }

    #[test]
    fn stored_objects_keep_what_the_controller_reads_and_nothing_else() {
        use k8s_openapi::api::core::v1::ConfigMap;
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;
        const ROTATE_EXTERNAL_ID: &str = crate::integration_role::ROTATE_EXTERNAL_ID;
        const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
        let mut obj = ConfigMap::default();
        obj.metadata.name = Some("a".into());
        obj.metadata.managed_fields = Some(vec![ManagedFieldsEntry::default()]);
        obj.metadata.labels = Some([("app.kubernetes.io/part-of".into(), "x".into())].into());
        obj.metadata.annotations = Some(
            [
                (LAST_APPLIED.to_string(), "{...}".to_string()),
                ("argocd.argoproj.io/tracking-id".into(), "x".into()),
                (ROTATE_EXTERNAL_ID.to_string(), "2026-11".to_string()),
            ]
            .into(),
        );
        obj.metadata.finalizers = Some(vec![crate::FINALIZER.into()]);
        trim(&mut obj);
        assert_eq!(obj.metadata.managed_fields, None);
        assert_eq!(obj.metadata.labels, None);
        assert_eq!(
            obj.metadata.annotations,
            Some([(ROTATE_EXTERNAL_ID.to_string(), "2026-11".to_string())].into())
        );
        assert_eq!(obj.metadata.finalizers.as_ref().map(Vec::len), Some(1));
        obj.metadata.annotations = Some([(LAST_APPLIED.to_string(), String::new())].into());
        trim(&mut obj);
        assert_eq!(obj.metadata.annotations, None);
    }
}
