//! Observation of the live ECS state, shared across objects.
//!
//! Every DaemonService of a cluster is served by one `ListContainerInstances` (all pages)
//! and `DescribeContainerInstances` (100 at a time) per freshness window, and a
//! `DescribeServices` call fetches up to ten services of the cluster at once: the
//! object's own and those of other DaemonServices of the same cluster that are due. A
//! reconcile that finds the answers fresh makes no call at all; a write forgets what it
//! changed, so the next observation reads it back.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ecs::types::{ServiceField, TaskDefinitionField};

use super::capacity::{self, ClusterCapacity};
use super::desired::{Desired, DesiredTaskDefinition};
use super::filter::InstanceFacts;
use super::managed_daemon::{self, ObservedDaemon};
use super::task_definition::DIGEST_TAG;
use super::{CapacityProviderStrategyItem, Scheduling, Shared};
use crate::aws::{AccountClients, AwsTarget, aws_error, error_code};
use crate::runtime::ObjectAws;
use crate::{Error, Result};

/// Identifies a cluster across accounts and regions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterKey {
    pub region: String,
    pub role: Option<String>,
    /// The cluster's name (the last part of an ARN).
    pub cluster: String,
}

impl ClusterKey {
    pub fn new(region: &str, target: &AwsTarget, cluster: &str) -> Self {
        ClusterKey {
            region: region.to_string(),
            role: target.assume_role_arn.clone(),
            cluster: cluster_name(cluster).to_string(),
        }
    }
}

/// `my-cluster` for `arn:aws:ecs:eu-west-1:123456789012:cluster/my-cluster` or `my-cluster`.
pub fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

/// A container instance as the plan needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerInstance {
    pub arn: String,
    /// ACTIVE, DRAINING, REGISTERING, ...
    pub status: String,
    pub facts: InstanceFacts,
}

/// The live service, as the plan and the status need it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedService {
    pub arn: String,
    pub name: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub scheduling_strategy: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub task_definition: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// (type, expression) pairs.
    pub placement_constraints: Vec<(String, Option<String>)>,
    /// (minimumHealthyPercent, maximumPercent).
    pub deployment_limits: Option<(Option<i32>, Option<i32>)>,
    /// (subnets, security groups, assign public IP).
    pub network: Option<(Vec<String>, Vec<String>, bool)>,
    pub tags: BTreeMap<String, String>,
    pub primary_rollout_state: Option<String>,
    pub deployments: usize,
}

impl ObservedService {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// The task definition revision the spec resolves to today.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedTaskDefinition {
    pub arn: String,
    /// The digest tag ecsfleet put on the revision, if any.
    pub digest: Option<String>,
}

/// Everything `plan` needs to know of AWS.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// The scheduling mode: the spec's, the one in use, or the cluster's default.
    pub mode: Scheduling,
    /// The cluster's capacity providers (read unless the spec says `Daemon`).
    pub capacity: Option<Arc<ClusterCapacity>>,
    pub instances: Arc<Vec<ContainerInstance>>,
    pub service: Option<ObservedService>,
    /// ManagedDaemon: the daemon.
    pub daemon: Option<ObservedDaemon>,
    /// Inline: the family's latest ACTIVE revision (None if the family has none), or
    /// the revision the service runs when that is known to carry the spec
    /// (`Desired::known_revision`); a daemon task definition for a ManagedDaemon.
    /// Reference: the referenced revision, resolved to its full ARN.
    pub task_definition: Option<ObservedTaskDefinition>,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            mode: Scheduling::PerInstance,
            capacity: None,
            instances: Arc::default(),
            service: None,
            daemon: None,
            task_definition: None,
        }
    }
}

impl Observed {
    /// ACTIVE container instances that match the filter (DRAINING ones do not count).
    pub fn matching_instances(&self, desired: &Desired) -> i32 {
        let count = self
            .instances
            .iter()
            .filter(|i| i.status == "ACTIVE")
            .filter(|i| match &desired.instance_filter {
                Some((_, expr)) => expr.matches(&i.facts),
                None => true,
            })
            .count();
        i32::try_from(count).unwrap_or(i32::MAX)
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

type ServiceEntries = tokio::sync::Mutex<ServiceTable>;

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
    pub async fn forget_service(&self, key: &ClusterKey, name: &str) {
        slot(&self.services, key).lock().await.answers.remove(name);
    }

    /// Forgets the service `name` of `cluster` in `region` (every role): an AWS event
    /// said it changed, and the reconcile it triggers must read it again.
    pub async fn forget_service_in(&self, region: &str, cluster: &str, name: &str) {
        let cluster = cluster_name(cluster);
        let tables: Vec<Arc<ServiceEntries>> = self
            .services
            .lock()
            .expect("observer lock")
            .iter()
            .filter(|(key, _)| key.region == region && key.cluster == cluster)
            .map(|(_, table)| table.clone())
            .collect();
        for table in tables {
            table.lock().await.answers.remove(name);
        }
    }

    /// Forgets a family's latest revision after registering a new one.
    pub async fn forget_task_definition(&self, key: &ClusterKey, family: &str) {
        *family_slot(&self.task_definitions, key, family)
            .lock()
            .await = None;
    }
}

/// Observes what `desired` maps to.
pub async fn observe(desired: &Desired, shared: &Shared, aws: &ObjectAws) -> Result<Observed> {
    let clients = &aws.clients;
    let key = ClusterKey::new(&clients.region, &aws.target, &desired.cluster);
    let clusters = &shared.clusters;
    // The capacity providers decide the default mode and guard PerInstance; a spec
    // that says Daemon needs neither.
    let capacity = match desired.scheduling {
        Some(Scheduling::Daemon) => None,
        _ => Some(clusters.capacity(clients, &key, &desired.cluster).await?),
    };
    let mut mode = desired
        .scheduling
        .or(desired.previous.scheduling)
        .unwrap_or_else(|| {
            capacity::default_mode(desired, capacity.as_deref().expect("read above"))
        });
    if mode == Scheduling::ManagedDaemon {
        let cluster_arn = capacity
            .as_ref()
            .map(|c| c.cluster_arn.clone())
            .unwrap_or_default();
        let (daemon, task_definition) =
            managed_daemon::observe(desired, &cluster_arn, shared, clients, &key).await?;
        return Ok(Observed {
            mode,
            capacity,
            daemon,
            task_definition,
            ..Observed::default()
        });
    }
    let peers = clusters
        .peers(&key, &desired.service_name, || {
            peer_services(shared, &key, &clients.region)
        })
        .await;
    let described = desired.instance_filter.is_some() || peers.filters;
    let instances = clusters
        .instances(clients, &key, &desired.cluster, described)
        .await?;
    let service = clusters
        .service(
            clients,
            &key,
            &desired.cluster,
            &desired.service_name,
            &peers.services,
        )
        .await?;
    // Unset in the spec, the live service's strategy is the mode: ECS cannot change it.
    if desired.scheduling.is_none()
        && let Some(live) = service.as_ref().filter(|s| s.status != "INACTIVE")
    {
        mode = if live.scheduling_strategy == "DAEMON" {
            Scheduling::Daemon
        } else {
            Scheduling::PerInstance
        };
    }
    // The revision the service runs, when known to be the spec's: no family to read.
    let running = service
        .as_ref()
        .filter(|s| s.is_active())
        .and_then(|s| s.task_definition.as_deref());
    let task_definition = match running.and_then(|arn| desired.known_revision(arn)) {
        Some(known) => Some(known),
        None => {
            clusters
                .task_definition(clients, &key, &desired.task_definition)
                .await?
        }
    };
    Ok(Observed {
        mode,
        capacity,
        instances,
        service,
        daemon: None,
        task_definition,
    })
}

/// The DaemonServices of the cluster `key` (same region and role) among the watched ones.
fn peer_services(shared: &Shared, key: &ClusterKey, region: &str) -> ClusterPeers {
    let on_cluster: Vec<(String, bool)> = shared.peers.filter_map(|other| {
        let same_cluster = other.spec.common.region.as_deref().unwrap_or(region) == key.region
            && other.spec.common.assume_role_arn == key.role
            && cluster_name(&other.spec.cluster) == key.cluster;
        same_cluster.then(|| (other.service_name(), other.spec.instance_filter.is_some()))
    });
    let filters = on_cluster.iter().any(|(_, filter)| *filter);
    let mut services: Vec<String> = on_cluster.into_iter().map(|(name, _)| name).collect();
    services.sort();
    services.dedup();
    ClusterPeers { services, filters }
}

async fn list_instances(
    clients: &AccountClients,
    cluster: &str,
    described: bool,
) -> Result<Vec<ContainerInstance>> {
    let mut arns = Vec::new();
    let mut next_token = None;
    // Listed only: the ACTIVE ones, which are the ones that count.
    let status = (!described).then_some(aws_sdk_ecs::types::ContainerInstanceStatus::Active);
    loop {
        let page = clients
            .ecs
            .list_container_instances()
            .cluster(cluster)
            .set_status(status.clone())
            .set_next_token(next_token)
            .max_results(100)
            .send()
            .await
            .map_err(|e| cluster_error("ListContainerInstances", cluster, e))?;
        arns.extend(page.container_instance_arns().iter().cloned());
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    if !described {
        return Ok(arns
            .into_iter()
            .map(|arn| ContainerInstance {
                arn,
                status: "ACTIVE".to_string(),
                facts: InstanceFacts::default(),
            })
            .collect());
    }
    let mut instances = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(100) {
        let described = clients
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| cluster_error("DescribeContainerInstances", cluster, e))?;
        for instance in described.container_instances() {
            instances.push(ContainerInstance {
                arn: instance
                    .container_instance_arn()
                    .unwrap_or_default()
                    .to_string(),
                status: instance.status().unwrap_or_default().to_string(),
                facts: InstanceFacts {
                    ec2_instance_id: instance.ec2_instance_id().map(str::to_string),
                    agent_connected: instance.agent_connected(),
                    agent_version: instance
                        .version_info()
                        .and_then(|v| v.agent_version())
                        .map(str::to_string),
                    running_tasks_count: instance.running_tasks_count(),
                    attributes: instance
                        .attributes()
                        .iter()
                        .map(|a| (a.name().to_string(), a.value().map(str::to_string)))
                        .collect(),
                },
            });
        }
    }
    Ok(instances)
}

/// A missing cluster is a spec problem (or one not created yet): say so by name.
fn cluster_error<E>(
    operation: &'static str,
    cluster: &str,
    error: aws_sdk_ecs::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Error
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if error_code(&error) == Some("ClusterNotFoundException") {
        return Error::NotReady(format!(
            "ECS cluster {cluster} (spec.cluster) does not exist"
        ));
    }
    aws_error("ECS", operation, error)
}

async fn describe_services(
    clients: &AccountClients,
    cluster: &str,
    names: &[String],
) -> Result<Vec<ObservedService>> {
    let described = clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.to_vec()))
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| cluster_error("DescribeServices", cluster, e))?;
    Ok(described.services().iter().map(observed_service).collect())
}

/// Converts a described (or created, or updated) service.
pub fn observed_service(service: &aws_sdk_ecs::types::Service) -> ObservedService {
    let primary = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    ObservedService {
        arn: service.service_arn().unwrap_or_default().to_string(),
        name: service.service_name().unwrap_or_default().to_string(),
        status: service.status().unwrap_or_default().to_string(),
        scheduling_strategy: service
            .scheduling_strategy()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "REPLICA".to_string()),
        desired_count: service.desired_count(),
        running_count: service.running_count(),
        pending_count: service.pending_count(),
        task_definition: service.task_definition().map(str::to_string),
        launch_type: service.launch_type().map(|l| l.as_str().to_string()),
        capacity_provider_strategy: service
            .capacity_provider_strategy()
            .iter()
            .map(|item| CapacityProviderStrategyItem {
                capacity_provider: item.capacity_provider().to_string(),
                weight: item.weight(),
                base: item.base(),
            })
            .collect(),
        placement_constraints: service
            .placement_constraints()
            .iter()
            .map(|c| {
                (
                    c.r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    c.expression().map(str::to_string),
                )
            })
            .collect(),
        deployment_limits: service
            .deployment_configuration()
            .map(|d| (d.minimum_healthy_percent(), d.maximum_percent())),
        network: service
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|v| {
                (
                    v.subnets().to_vec(),
                    v.security_groups().to_vec(),
                    v.assign_public_ip().map(|a| a.as_str()) == Some("ENABLED"),
                )
            }),
        tags: tag_map(service.tags()),
        primary_rollout_state: primary
            .and_then(|d| d.rollout_state())
            .map(|r| r.as_str().to_string()),
        deployments: service.deployments().len(),
    }
}

/// ECS tags as a map (a tag without a key is dropped).
pub fn tag_map(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

async fn describe_task_definition(
    clients: &AccountClients,
    name: &str,
) -> Result<Option<ObservedTaskDefinition>> {
    match clients
        .ecs
        .describe_task_definition()
        .task_definition(name)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
    {
        Ok(described) => Ok(described
            .task_definition()
            .map(|definition| ObservedTaskDefinition {
                arn: definition
                    .task_definition_arn()
                    .unwrap_or_default()
                    .to_string(),
                digest: described
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(DIGEST_TAG))
                    .and_then(|t| t.value().map(str::to_string)),
            })),
        // ECS answers a family or revision it does not know with a ClientException.
        Err(error) if error_code(&error) == Some("ClientException") => Ok(None),
        Err(error) => Err(aws_error("ECS", "DescribeTaskDefinition", error)),
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
