//! The process-wide cache of ECS observations, shared by every DaemonService.
//!
//! Every DaemonService of a cluster is served by one `ListContainerInstances` (all pages)
//! and `DescribeContainerInstances` (100 at a time) per freshness window, and a
//! `DescribeServices` call fetches up to ten services of the cluster at once: the
//! object's own and those of other DaemonServices of the same cluster that are due. A
//! reconcile that finds the answers fresh makes no call at all; a write forgets what it
//! changed, so the next observation reads it back.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::DaemonService;
use super::capacity::{self, ClusterCapacity};
use super::desired::DesiredTaskDefinition;
use super::ecs::{
    ClusterKey, ContainerInstance, ObservedService, ObservedTaskDefinition, cluster_name,
    describe_services, describe_task_definition, list_instances,
};
use crate::aws::AccountClients;
use crate::runtime::Directory;
use crate::runtime::hosts::HostsChanged;
use crate::{Error, Result};

/// What the DaemonServices of one process share: one cached view of each cluster, and
/// the other DaemonServices (to batch `DescribeServices`).
pub struct Shared {
    pub clusters: Arc<EcsObserver>,
    pub peers: Directory<DaemonService>,
}

impl Shared {
    /// A view of the clusters whose answers serve for `freshness`, dropped for a cluster
    /// as soon as `hosts` says its hosts changed.
    pub fn new(freshness: Duration, peers: Directory<DaemonService>, hosts: &HostsChanged) -> Self {
        Self::with_clusters(Arc::new(EcsObserver::new(freshness)), peers, hosts)
    }

    /// As a controller resyncing every `resync` needs it ([`EcsObserver::for_resync`]).
    pub fn for_resync(
        resync: Duration,
        peers: Directory<DaemonService>,
        hosts: &HostsChanged,
    ) -> Self {
        Self::with_clusters(Arc::new(EcsObserver::for_resync(resync)), peers, hosts)
    }

    /// With the cluster answers of `clusters` (shared with what forgets them on AWS
    /// events), dropped for a cluster as soon as `hosts` says its hosts changed.
    pub fn with_clusters(
        clusters: Arc<EcsObserver>,
        peers: Directory<DaemonService>,
        hosts: &HostsChanged,
    ) -> Self {
        let view = Arc::clone(&clusters);
        hosts.on_change(move |change| view.forget_instances(&change.region, &change.cluster));
        Shared { clusters, peers }
    }
}

/// A cluster's container instances, and whether they were described (their attributes
/// and agent facts read) or only listed (ACTIVE ones, by ARN: enough to count them).
#[derive(Clone, Debug, Default)]
pub struct ClusterHosts {
    pub instances: Arc<Vec<ContainerInstance>>,
    pub described: bool,
}

/// The DaemonServices of one cluster, as batching and instance reads need them.
#[derive(Clone, Debug, Default)]
pub struct ClusterPeers {
    /// Their service names, sorted.
    pub services: Vec<String>,
    /// Whether any of them filters instances (then the cluster's instances are described
    /// once for all of them).
    pub filters: bool,
}

/// The shortest time between two scans for a cluster's peers (see `EcsObserver::peers`).
const RESCAN_PAUSE: Duration = Duration::from_secs(1);

/// One cached answer and when it was fetched, behind an async lock (single flight).
type Slot<T> = Arc<tokio::sync::Mutex<Option<(Instant, T)>>>;
/// One service's answer: when it was described, what was found, and whether a reconcile
/// has used it yet (an answer fetched for a peer in a batch has not).
struct ServiceAnswer {
    at: Instant,
    service: Option<Arc<ObservedService>>,
    used: bool,
}

/// The services of one cluster, by name (shared: a reconcile takes its own copy, the
/// cache keeps one).
type ServiceAnswers = HashMap<String, ServiceAnswer>;

/// A cluster's service answers, and whether a task is on its way to drop them once they
/// are stale (an answer past its life serves no one: it would be described again).
#[derive(Default)]
struct ServiceTable {
    answers: ServiceAnswers,
    pruning: bool,
}

/// A cluster's service answers, behind the async lock a `DescribeServices` batch holds
/// while in flight, and the names forgotten meanwhile. A write or an AWS event forgets an
/// answer without queueing behind the cluster's reads: the name is dropped when the table
/// is next taken, so also after an answer the batch in flight stores.
#[derive(Default)]
struct ServiceEntries {
    table: tokio::sync::Mutex<ServiceTable>,
    forgotten: Mutex<HashSet<String>>,
}

impl ServiceEntries {
    /// The table, without the answers forgotten since it was last taken.
    async fn lock(&self) -> tokio::sync::MutexGuard<'_, ServiceTable> {
        let mut table = self.table.lock().await;
        let forgotten = std::mem::take(&mut *self.forgotten.lock().expect("forgotten lock"));
        for name in forgotten {
            table.answers.remove(&name);
        }
        table
    }

    /// Forgets `name`'s answer: at once if nobody holds the table, else when it is next
    /// taken.
    fn forget(&self, name: &str) {
        self.forgotten
            .lock()
            .expect("forgotten lock")
            .insert(name.to_string());
    }
}

/// How long service answers serve: `freshness` once used, and up to `prefetched` for
/// the first use of an answer fetched for a peer. A cluster's turn reconciles its
/// objects in no set order (kube's scheduler decides), and a batch describes nine
/// peers at once: with 2,000 services in a cluster the last of them may come more than
/// `freshness` after its answer was fetched, and would be described again.
#[derive(Clone, Copy)]
struct ServiceLife {
    freshness: Duration,
    prefetched: Duration,
}

impl ServiceLife {
    /// How much longer `answer` serves (zero: stale).
    fn left(&self, answer: &ServiceAnswer) -> Duration {
        let life = if answer.used {
            self.freshness
        } else {
            self.prefetched.max(self.freshness)
        };
        life.saturating_sub(answer.at.elapsed())
    }

    fn fresh(&self, answers: &ServiceAnswers, name: &str) -> bool {
        answers.get(name).is_some_and(|a| !self.left(a).is_zero())
    }
}

/// Drops the stale answers of `entries` and gives back the table's room, then again when
/// the next ones turn stale, until the table is empty: between its cluster's turns a
/// table holds nothing (a whole cluster is described in one turn, and would otherwise
/// keep every answer, and a table that size, until the next).
async fn prune_services(entries: Arc<ServiceEntries>, life: ServiceLife) {
    let mut wait = life.freshness;
    loop {
        tokio::time::sleep(wait).await;
        let mut table = entries.lock().await;
        table
            .answers
            .retain(|_, answer| !life.left(answer).is_zero());
        let held = table.answers.len();
        if table.answers.capacity() > 2 * held.max(4) {
            table.answers.shrink_to(held);
        }
        let Some(next) = table.answers.values().map(|a| life.left(a)).min() else {
            table.pruning = false;
            return;
        };
        wait = next + Duration::from_millis(10);
    }
}
/// Cached task-definition answers, by cluster, then family (or referenced ARN): the
/// cluster's key is held once, not once per family.
type TaskDefinitionSlots =
    HashMap<ClusterKey, HashMap<Box<str>, Slot<Option<ObservedTaskDefinition>>>>;

/// Caches of ECS observations, shared by every DaemonService of the process. Each entry
/// is guarded by its own async lock, so concurrent reconciles of one cluster wait for one
/// call instead of making one each.
pub struct EcsObserver {
    freshness: Duration,
    /// How long an answer fetched for a peer serves that peer's first look.
    prefetched: Duration,
    /// How long a task definition answer serves: they change only by ecsfleet's own
    /// writes (which forget the answer) or by hand, which the resync catches.
    definition_freshness: Duration,
    instances: Mutex<HashMap<ClusterKey, Slot<ClusterHosts>>>,
    services: Mutex<HashMap<ClusterKey, Arc<ServiceEntries>>>,
    task_definitions: Mutex<TaskDefinitionSlots>,
    capacity: Mutex<HashMap<ClusterKey, Slot<Arc<ClusterCapacity>>>>,
    peers: Mutex<HashMap<ClusterKey, Slot<Arc<ClusterPeers>>>>,
    daemon_definitions: Mutex<TaskDefinitionSlots>,
    /// Daemon revision ARN → its daemon task definition (revisions never change).
    daemon_revisions: Mutex<HashMap<String, String>>,
}

fn slot<K: Clone + Eq + std::hash::Hash, V: Default>(
    map: &Mutex<HashMap<K, Arc<V>>>,
    key: &K,
) -> Arc<V> {
    map.lock()
        .expect("observer lock")
        .entry(key.clone())
        .or_default()
        .clone()
}

/// The slot of `family` in cluster `key`.
fn family_slot(
    map: &Mutex<TaskDefinitionSlots>,
    key: &ClusterKey,
    family: &str,
) -> Slot<Option<ObservedTaskDefinition>> {
    let mut map = map.lock().expect("observer lock");
    let families = match map.get_mut(key) {
        Some(families) => families,
        None => map.entry(key.clone()).or_default(),
    };
    match families.get(family) {
        Some(slot) => slot.clone(),
        None => families.entry(family.into()).or_default().clone(),
    }
}

async fn cached<T: Clone, F: Future<Output = Result<T>>>(
    slot: &Slot<T>,
    freshness: Duration,
    fetch: impl FnOnce() -> F,
) -> Result<T> {
    let mut entry = slot.lock().await;
    if let Some((at, value)) = entry.as_ref()
        && at.elapsed() < freshness
    {
        return Ok(value.clone());
    }
    let value = fetch().await?;
    *entry = Some((Instant::now(), value.clone()));
    Ok(value)
}

impl EcsObserver {
    /// How long answers serve a one-shot command (`plan`, `apply`): the whole run.
    pub const ONE_SHOT: Duration = Duration::from_secs(300);

    /// How long answers serve other reconciles in a controller resyncing every `resync`:
    /// a quarter of it, between 1 and 15 seconds, so a resync always sees the cluster as
    /// it is.
    pub fn freshness_for_resync(resync: Duration) -> Duration {
        (resync / 4).clamp(Duration::from_secs(1), Duration::from_secs(15))
    }

    /// As a controller resyncing every `resync` needs it: cluster answers serve a short
    /// while ([`Self::freshness_for_resync`]), an answer fetched for a peer up to half a
    /// resync for its first look (a cluster's turn may take longer than the freshness);
    /// task definition answers until just before the next resync, so a reconcile between
    /// resyncs (an AWS event's) reads only what may have changed.
    pub fn for_resync(resync: Duration) -> Self {
        EcsObserver::new(Self::freshness_for_resync(resync))
            .with_prefetched_life(resync / 2)
            .with_definition_freshness(resync.mul_f64(0.9))
    }

    /// `freshness`: how long an answer serves other reconciles. Keep it well under the
    /// resync interval, so that a resync sees a cluster change.
    pub fn new(freshness: Duration) -> Self {
        EcsObserver {
            freshness,
            prefetched: freshness,
            definition_freshness: freshness,
            instances: Mutex::default(),
            services: Mutex::default(),
            task_definitions: Mutex::default(),
            capacity: Mutex::default(),
            peers: Mutex::default(),
            daemon_definitions: Mutex::default(),
            daemon_revisions: Mutex::default(),
        }
    }

    /// A service answer fetched for a peer serves that peer's first look for up to
    /// `prefetched` (at least the freshness): a turn's batches are used before they go
    /// stale however long the turn takes.
    pub fn with_prefetched_life(mut self, prefetched: Duration) -> Self {
        self.prefetched = prefetched;
        self
    }

    fn service_life(&self) -> ServiceLife {
        ServiceLife {
            freshness: self.freshness,
            prefetched: self.prefetched,
        }
    }

    /// Task definition answers serve for `freshness` instead of the cluster's.
    pub fn with_definition_freshness(mut self, freshness: Duration) -> Self {
        self.definition_freshness = freshness;
        self
    }

    /// The cluster's container instances: with `described`, every one but INACTIVE with
    /// its facts (a filter needs them: one more call per 100 instances); without, the
    /// ACTIVE ones only, listed (enough to count them).
    pub async fn instances(
        &self,
        clients: &AccountClients,
        key: &ClusterKey,
        cluster: &str,
        described: bool,
    ) -> Result<Arc<Vec<ContainerInstance>>> {
        let slot = slot(&self.instances, key);
        let mut entry = slot.lock().await;
        if let Some((at, hosts)) = entry.as_ref()
            && at.elapsed() < self.freshness
            && (hosts.described || !described)
        {
            return Ok(hosts.instances.clone());
        }
        let hosts = ClusterHosts {
            instances: Arc::new(list_instances(clients, cluster, described).await?),
            described,
        };
        *entry = Some((Instant::now(), hosts.clone()));
        Ok(hosts.instances)
    }

    /// The service `name`, described together with up to nine `peers` whose answers are
    /// not fresh, in one `DescribeServices` call.
    pub async fn service(
        &self,
        clients: &AccountClients,
        key: &ClusterKey,
        cluster: &str,
        name: &str,
        peers: &[String],
    ) -> Result<Option<ObservedService>> {
        let slot = slot(&self.services, key);
        let mut table = slot.lock().await;
        let life = self.service_life();
        if !life.fresh(&table.answers, name) {
            let entries = &mut table.answers;
            let mut batch = vec![name.to_string()];
            for peer in peers {
                if batch.len() == 10 {
                    break;
                }
                if !batch.contains(peer) && !life.fresh(entries, peer) {
                    batch.push(peer.clone());
                }
            }
            let mut described = describe_services(clients, cluster, &batch).await?;
            entries.retain(|_, answer| !life.left(answer).is_zero());
            let now = Instant::now();
            for requested in batch {
                let service = described
                    .iter()
                    .position(|s| s.name == requested)
                    .map(|at| Arc::new(described.swap_remove(at)));
                let answer = ServiceAnswer {
                    at: now,
                    service,
                    used: false,
                };
                entries.insert(requested, answer);
            }
            if !table.pruning {
                table.pruning = true;
                tokio::spawn(prune_services(slot.clone(), life));
            }
        }
        Ok(table.answers.get_mut(name).and_then(|answer| {
            answer.used = true;
            answer.service.as_deref().cloned()
        }))
    }

    /// How many service answers the cluster `key`'s table has room for.
    pub async fn service_capacity(&self, key: &ClusterKey) -> usize {
        slot(&self.services, key).lock().await.answers.capacity()
    }

    /// How many service answers are held, over every cluster: what this cache costs.
    pub async fn services_held(&self) -> usize {
        let clusters: Vec<Arc<ServiceEntries>> = self
            .services
            .lock()
            .expect("observer lock")
            .values()
            .cloned()
            .collect();
        let mut held = 0;
        for entries in clusters {
            held += entries.lock().await.answers.len();
        }
        held
    }

    /// The task definition the spec resolves to: the family's latest revision (inline) or
    /// the referenced one.
    pub async fn task_definition(
        &self,
        clients: &AccountClients,
        key: &ClusterKey,
        desired: &DesiredTaskDefinition,
    ) -> Result<Option<ObservedTaskDefinition>> {
        let name = match desired {
            DesiredTaskDefinition::Inline(rendered) => rendered.family.clone(),
            DesiredTaskDefinition::Reference(arn) => arn.clone(),
        };
        let slot = family_slot(&self.task_definitions, key, &name);
        let observed = cached(&slot, self.definition_freshness, || {
            describe_task_definition(clients, &name)
        })
        .await?;
        if observed.is_none()
            && let DesiredTaskDefinition::Reference(arn) = desired
        {
            return Err(Error::invalid(
                "spec.taskDefinition.arn",
                format!("task definition {arn} does not exist"),
            ));
        }
        Ok(observed)
    }

    /// The cluster's capacity providers, read once for every DaemonService of the
    /// cluster and kept like task definitions (until just before the next resync): they
    /// change only by hand, and a reconcile between resyncs (an AWS event's) need not
    /// read them again.
    pub async fn capacity(
        &self,
        clients: &AccountClients,
        key: &ClusterKey,
        cluster: &str,
    ) -> Result<Arc<ClusterCapacity>> {
        let slot = slot(&self.capacity, key);
        cached(&slot, self.definition_freshness, || async {
            Ok(Arc::new(capacity::describe(clients, cluster).await?))
        })
        .await
    }

    /// The DaemonServices of a cluster, found by `find` (a scan of every watched object)
    /// once per freshness window per cluster rather than by every reconcile: with 10,000
    /// objects, every reconcile scanning all of them is quadratic work per resync. An
    /// object that `asking` names but the list lacks (created since the scan) finds them
    /// again, at most once per `RESCAN_PAUSE` per cluster, so objects created together
    /// are batched together; one that filters instances asks for them described itself.
    pub async fn peers(
        &self,
        key: &ClusterKey,
        asking: &str,
        find: impl FnOnce() -> ClusterPeers,
    ) -> Arc<ClusterPeers> {
        let slot = slot(&self.peers, key);
        let mut entry = slot.lock().await;
        if let Some((at, peers)) = entry.as_ref() {
            let fresh = at.elapsed() < self.freshness;
            let listed = peers
                .services
                .binary_search_by(|s| s.as_str().cmp(asking))
                .is_ok();
            if fresh && (listed || at.elapsed() < RESCAN_PAUSE) {
                return peers.clone();
            }
        }
        let peers = Arc::new(find());
        *entry = Some((Instant::now(), peers.clone()));
        peers
    }

    /// The latest daemon task definition of `family`, cached like task definitions.
    pub async fn daemon_definition<F>(
        &self,
        key: &ClusterKey,
        family: &str,
        fetch: impl FnOnce() -> F,
    ) -> Result<Option<ObservedTaskDefinition>>
    where
        F: Future<Output = Result<Option<ObservedTaskDefinition>>>,
    {
        let slot = family_slot(&self.daemon_definitions, key, family);
        cached(&slot, self.definition_freshness, fetch).await
    }

    /// Forgets a family's latest daemon task definition after registering a new one.
    pub async fn forget_daemon_definition(&self, key: &ClusterKey, family: &str) {
        *family_slot(&self.daemon_definitions, key, family)
            .lock()
            .await = None;
    }

    pub fn daemon_revision(&self, revision: &str) -> Option<String> {
        self.daemon_revisions
            .lock()
            .expect("observer lock")
            .get(revision)
            .cloned()
    }

    pub fn remember_daemon_revision(&self, revision: &str, definition: String) {
        self.daemon_revisions
            .lock()
            .expect("observer lock")
            .insert(revision.to_string(), definition);
    }

    /// Forgets the container instances of `cluster` in `region` (every role), so the next
    /// reconcile reads them again: a ScalingGroup saw its instances change.
    pub fn forget_instances(&self, region: &str, cluster: &str) {
        let name = cluster_name(cluster);
        self.instances
            .lock()
            .expect("observer lock")
            .retain(|key, _| !(key.region == region && key.cluster == name));
    }

    /// Forgets the service after a write, so the next observation reads it back.
    pub fn forget_service(&self, key: &ClusterKey, name: &str) {
        slot(&self.services, key).forget(name);
    }

    /// Forgets the service `name` of `cluster` in `region` (every role): an AWS event
    /// said it changed, and the reconcile it triggers must read it again.
    pub fn forget_service_in(&self, region: &str, cluster: &str, name: &str) {
        let cluster = cluster_name(cluster);
        self.services
            .lock()
            .expect("observer lock")
            .iter()
            .filter(|(key, _)| key.region == region && key.cluster == cluster)
            .for_each(|(_, table)| table.forget(name));
    }

    /// Forgets a family's latest revision after registering a new one.
    pub async fn forget_task_definition(&self, key: &ClusterKey, family: &str) {
        *family_slot(&self.task_definitions, key, family)
            .lock()
            .await = None;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(cluster: &str) -> ClusterKey {
        ClusterKey {
            region: "eu-west-1".into(),
            role: None,
            cluster: cluster.into(),
        }
    }

    #[tokio::test]
    async fn a_service_forgotten_while_its_cluster_is_described_is_dropped_after_that_answer() {
        let entries = ServiceEntries::default();
        let answer = || ServiceAnswer {
            at: Instant::now(),
            service: None,
            used: false,
        };
        // A batch in flight holds the table; a write's forget does not wait for it.
        let mut in_flight = entries.lock().await;
        entries.forget("agent");
        // The batch stores an answer it may have read before the write.
        in_flight.answers.insert("agent".into(), answer());
        in_flight.answers.insert("peer".into(), answer());
        drop(in_flight);
        let table = entries.lock().await;
        assert!(
            !table.answers.contains_key("agent"),
            "read again after the write"
        );
        assert!(table.answers.contains_key("peer"));
        drop(table);
        // Applied once: a later answer stays.
        entries
            .lock()
            .await
            .answers
            .insert("agent".into(), answer());
        assert!(entries.lock().await.answers.contains_key("agent"));
    }

    #[tokio::test]
    async fn a_clusters_peers_are_found_once_per_freshness_window() {
        let freshness = Duration::from_millis(300);
        let observer = EcsObserver::new(freshness);
        let scans = AtomicUsize::new(0);
        let find = |name: &str| {
            scans.fetch_add(1, Ordering::SeqCst);
            ClusterPeers {
                services: vec![name.to_string()],
                filters: false,
            }
        };
        for _ in 0..5 {
            let peers = observer.peers(&key("a"), "agent", || find("agent")).await;
            assert_eq!(peers.services, ["agent"]);
        }
        assert_eq!(
            scans.load(Ordering::SeqCst),
            1,
            "one scan for five reconciles"
        );
        observer.peers(&key("b"), "other", || find("other")).await;
        assert_eq!(scans.load(Ordering::SeqCst), 2, "each cluster its own");
        tokio::time::sleep(freshness + Duration::from_millis(50)).await;
        let peers = observer
            .peers(&key("a"), "agent-2", || find("agent-2"))
            .await;
        assert_eq!(peers.services, ["agent-2"], "found again once stale");
        assert_eq!(scans.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_object_created_since_the_scan_finds_its_peers_again_at_most_once_a_second() {
        let observer = EcsObserver::new(Duration::from_secs(15));
        let scans = AtomicUsize::new(0);
        let find = |names: &[&str]| {
            scans.fetch_add(1, Ordering::SeqCst);
            ClusterPeers {
                services: names.iter().map(|n| n.to_string()).collect(),
                filters: false,
            }
        };
        observer.peers(&key("a"), "a-1", || find(&["a-1"])).await;
        // Created within the pause: served the list as it is, without a scan.
        let peers = observer
            .peers(&key("a"), "a-2", || find(&["a-1", "a-2"]))
            .await;
        assert_eq!(peers.services, ["a-1"]);
        assert_eq!(scans.load(Ordering::SeqCst), 1);
        tokio::time::sleep(RESCAN_PAUSE).await;
        let peers = observer
            .peers(&key("a"), "a-2", || find(&["a-1", "a-2", "a-3"]))
            .await;
        assert_eq!(
            peers.services,
            ["a-1", "a-2", "a-3"],
            "found again: a-2 was missing"
        );
        assert_eq!(scans.load(Ordering::SeqCst), 2);
        // Everyone listed: no scan until the window ends, though the pause is over.
        tokio::time::sleep(RESCAN_PAUSE).await;
        for name in ["a-1", "a-2", "a-3"] {
            observer.peers(&key("a"), name, || find(&[])).await;
        }
        assert_eq!(scans.load(Ordering::SeqCst), 2);
    }
}
