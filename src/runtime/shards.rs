//! Sharding: the work spread over several replicas with Kubernetes' own machinery.
//!
//! Every object belongs to one of `--shards` shards by a stable hash of its namespace (or
//! its uid). Each shard is owned through a coordination.k8s.io Lease of its own
//! (`<prefix>-shard-<n>`); a replica reconciles only the objects of the shards it holds.
//! Replicas announce themselves with a membership Lease (`<prefix>-member-<identity>`);
//! which live replica should hold a shard is decided by rendezvous hashing over the live
//! members, so every replica computes the same answer and a replica joining or leaving
//! moves only its own share. A replica hands a shard over only after its reconciles in
//! flight for that shard have finished; a replica that dies stops renewing, and its
//! shards are taken once their Leases expire.
//!
//! The Lease writes are the only coordination: of two replicas racing for a shard exactly
//! one wins (see [`super::lease`]), so no object is reconciled by two replicas at once as
//! long as a replica that cannot renew stops within the lease's duration (it stops
//! after two thirds of it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams};
use kube::core::DeserializeGuard;
use kube::{Api, Resource};
use tokio::sync::{OwnedRwLockReadGuard, RwLock, broadcast};

use super::Managed;
use super::lease::{Decision, LeaderElector, decide, released_spec};
use crate::Result;

/// The label that names an object's shard, set by the replica that holds it (see
/// [`super::sharded_watch`]); each replica lists and watches only the objects of its
/// shards, by this label.
pub const SHARD_LABEL: &str = "ecsfleet.dev/shard";

/// The label that names the number of shards the object's [`SHARD_LABEL`] is of: after a
/// change of `--shards`, objects labelled for the old number are placed again.
pub const SHARDS_LABEL: &str = "ecsfleet.dev/shards";

/// What places an object in a shard.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ShardKey {
    /// Its namespace: a team's objects (and usually its AWS account) stay together, so
    /// per-cluster and per-account answers are shared within one replica.
    #[default]
    Namespace,
    /// Its uid: the most even spread, whatever the namespaces.
    Uid,
    /// Its ECS cluster (Region, account and cluster): a cluster's DaemonServices and the
    /// ScalingGroups whose `ecsCluster` names it share a shard, so the cluster's reads are
    /// made once and a group's host changes reach its DaemonServices. Objects of no
    /// cluster (IntegrationRoles) go by their namespace.
    Cluster,
}

/// FNV-1a, 64 bits: stable across versions and platforms (a shard's objects must not
/// move when a replica is upgraded).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        // A separator, so that ("ab", "c") and ("a", "bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// A stable 64-bit hash of `bytes` (FNV-1a).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    fnv1a(&[bytes])
}

/// The shard of an object with `meta` (and, for [`ShardKey::Cluster`], the ECS cluster it
/// belongs to, [`Managed::shard_group`]), of `count` shards. Pure.
pub fn shard_of(meta: &ObjectMeta, cluster: Option<&str>, key: ShardKey, count: u32) -> u32 {
    let text = match (key, cluster) {
        (ShardKey::Cluster, Some(cluster)) => Some(cluster),
        (ShardKey::Namespace | ShardKey::Cluster, _) => meta.namespace.as_deref(),
        (ShardKey::Uid, _) => meta.uid.as_deref(),
    }
    .unwrap_or_default();
    (fnv1a(&[text.as_bytes()]) % u64::from(count.max(1))) as u32
}

/// The splitmix64 finalizer: every input bit moves every output bit. FNV-1a alone does
/// not: members whose names share a prefix (pod names do) keep the same order for every
/// shard, and one member would win them all.
fn mix(mut hash: u64) -> u64 {
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// Which of the live `members` should hold `shard` (rendezvous hashing: the member with
/// the highest hash of (member, shard)). Pure; `None` only without members.
pub fn preferred(shard: u32, members: &[String]) -> Option<&str> {
    members
        .iter()
        .max_by_key(|member| {
            (
                mix(fnv1a(&[member.as_bytes(), &shard.to_be_bytes()])),
                member.as_str(),
            )
        })
        .map(String::as_str)
}

/// One shard as this replica sees it.
#[derive(Default)]
struct Slot {
    held: AtomicBool,
    /// Reconciles in flight hold it for reading; handing the shard over takes it for
    /// writing, which waits for them.
    busy: Arc<RwLock<()>>,
    /// When the Lease was last written by us.
    renewed: Mutex<Option<Instant>>,
    /// Stopped, its Lease kept until the reconciles in flight finish, then released.
    handing_over: AtomicBool,
}

/// The shards of this replica: which it holds, and a signal when that changes.
pub struct Shards {
    key: ShardKey,
    slots: Vec<Slot>,
    changed: broadcast::Sender<u32>,
}

/// Held while an object of a held shard is reconciled.
pub type ShardGuard = OwnedRwLockReadGuard<()>;

impl Shards {
    pub fn new(count: u32, key: ShardKey) -> Arc<Self> {
        Arc::new(Shards {
            key,
            slots: (0..count.max(1)).map(|_| Slot::default()).collect(),
            changed: broadcast::channel(256).0,
        })
    }

    pub fn count(&self) -> u32 {
        self.slots.len() as u32
    }

    pub fn key(&self) -> ShardKey {
        self.key
    }

    /// The labels that place an object in `shard` (see [`SHARD_LABEL`]).
    pub fn labels(&self, shard: u32) -> [(&'static str, String); 2] {
        [
            (SHARD_LABEL, shard.to_string()),
            (SHARDS_LABEL, self.count().to_string()),
        ]
    }

    /// Whether `labels` place the object in `shard`.
    pub fn labelled(&self, labels: Option<&BTreeMap<String, String>>, shard: u32) -> bool {
        self.labels(shard)
            .iter()
            .all(|(key, value)| labels.and_then(|l| l.get(*key)) == Some(value))
    }

    /// The label selector of the objects of `held` (none when `held` is empty).
    pub fn selector(&self, held: &[u32]) -> String {
        let values: Vec<String> = held.iter().map(u32::to_string).collect();
        let values = if values.is_empty() {
            "none".to_string()
        } else {
            values.join(",")
        };
        format!(
            "{SHARDS_LABEL}={},{SHARD_LABEL} in ({values})",
            self.count()
        )
    }

    /// The label selector of the objects not yet placed in a shard of this many shards
    /// (new objects, and those labelled for another `--shards`).
    pub fn unplaced_selector(&self) -> String {
        format!("{SHARDS_LABEL}!={}", self.count())
    }

    pub fn shard_of<K: Managed>(&self, object: &DeserializeGuard<K>) -> u32 {
        let cluster = match self.key {
            ShardKey::Cluster => object.0.as_ref().ok().and_then(Managed::shard_group),
            _ => None,
        };
        shard_of(object.meta(), cluster.as_deref(), self.key, self.count())
    }

    /// A guard to hold while reconciling `object`, or `None` if its shard is not held
    /// here (another replica reconciles it).
    pub fn enter<K: Managed>(&self, object: &DeserializeGuard<K>) -> Option<ShardGuard> {
        let slot = self.slot(self.shard_of(object));
        if !slot.held.load(Ordering::SeqCst) {
            return None;
        }
        let guard = slot.busy.clone().try_read_owned().ok()?;
        // Handing over sets `held` before waiting for the lock: look again under it.
        slot.held.load(Ordering::SeqCst).then_some(guard)
    }

    pub fn holds(&self, shard: u32) -> bool {
        self.slot(shard).held.load(Ordering::SeqCst)
    }

    /// The shards held, in order.
    pub fn held(&self) -> Vec<u32> {
        (0..self.count()).filter(|s| self.holds(*s)).collect()
    }

    /// Each shard whose ownership changed here (taken, handed over or lost).
    pub fn subscribe(&self) -> broadcast::Receiver<u32> {
        self.changed.subscribe()
    }

    fn took(&self, shard: u32) {
        let slot = self.slot(shard);
        *slot.renewed.lock().expect("renewed lock") = Some(Instant::now());
        if !slot.held.swap(true, Ordering::SeqCst) {
            tracing::info!(shard, "took the shard");
            let _ = self.changed.send(shard);
        }
    }

    /// Stops reconciling `shard` at once (its Lease is someone else's, or could not be
    /// renewed in time).
    fn lost(&self, shard: u32) {
        if self.slot(shard).held.swap(false, Ordering::SeqCst) {
            tracing::warn!(shard, "lost the shard");
            let _ = self.changed.send(shard);
        }
    }

    /// Starts no new reconcile of `shard` (it is being handed over).
    fn stop(&self, shard: u32) {
        if self.slot(shard).held.swap(false, Ordering::SeqCst) {
            let _ = self.changed.send(shard);
        }
    }

    /// Resolves once no reconcile of `shard` is in flight.
    async fn wait_idle(&self, shard: u32) {
        drop(self.slot(shard).busy.write().await);
    }

    fn slot(&self, shard: u32) -> &Slot {
        &self.slots[shard as usize]
    }

    /// Whether the last renewal of `shard` is older than `deadline`.
    fn renewal_older_than(&self, shard: u32, deadline: Duration) -> bool {
        let renewed = *self.slot(shard).renewed.lock().expect("renewed lock");
        renewed.is_none_or(|at| at.elapsed() >= deadline)
    }
}

/// This replica's Leases: its membership and one per shard, in one namespace.
pub struct ShardLeases {
    api: Api<Lease>,
    client: kube::Client,
    namespace: String,
    prefix: String,
    pub identity: String,
    pub duration: Duration,
    /// The live members (this replica among them) as of the last round.
    members: Mutex<Vec<String>>,
}

impl ShardLeases {
    pub fn new(
        client: kube::Client,
        namespace: &str,
        prefix: &str,
        identity: String,
        duration: Duration,
    ) -> Self {
        ShardLeases {
            api: Api::namespaced(client.clone(), namespace),
            client,
            namespace: namespace.to_string(),
            prefix: prefix.to_string(),
            identity,
            duration,
            members: Mutex::default(),
        }
    }

    /// The live replicas as of the last round, this one among them.
    pub fn members(&self) -> Vec<String> {
        self.members.lock().expect("members lock").clone()
    }

    /// The ConfigMaps of the replicas' inboxes (see [`super::inbox`]).
    pub fn inboxes(&self) -> Api<k8s_openapi::api::core::v1::ConfigMap> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// The name of `member`'s inbox.
    pub fn inbox(&self, member: &str) -> String {
        format!("{}-inbox-{}", self.prefix, member_suffix(member))
    }

    /// `identity` as a part of a name.
    pub fn inbox_suffix(&self, identity: &str) -> String {
        member_suffix(identity)
    }

    fn member_prefix(&self) -> String {
        format!("{}-member-", self.prefix)
    }

    fn shard_lease(&self, shard: u32) -> String {
        format!("{}-shard-{shard}", self.prefix)
    }

    fn elector(&self, name: &str) -> LeaderElector {
        LeaderElector::new(
            self.client.clone(),
            &self.namespace,
            name,
            self.identity.clone(),
            self.duration,
        )
    }

    /// One round: renew the membership, read every Lease (one list), then take, renew,
    /// hand over or let go of each shard.
    pub async fn round(self: &Arc<Self>, shards: &Arc<Shards>) -> Result<()> {
        let member = format!("{}{}", self.member_prefix(), member_suffix(&self.identity));
        self.elector(&member).try_lead().await?;
        let leases = self.api.list(&ListParams::default()).await?.items;
        let now = Timestamp::now();
        let mut members = vec![self.identity.clone()];
        for lease in &leases {
            let name = lease.metadata.name.as_deref().unwrap_or_default();
            if !name.starts_with(&self.member_prefix()) {
                continue;
            }
            match decide(lease.spec.as_ref(), "", now, self.duration) {
                Decision::Follow { holder } => members.push(holder),
                // Long gone: clean up, so that replicas of past Deployments don't pile up.
                _ if expired_for(lease, now, self.duration * 10) => {
                    let _ = self.api.delete(name, &DeleteParams::default()).await;
                    if let Some(holder) = lease
                        .spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.as_deref())
                    {
                        let _ = self
                            .inboxes()
                            .delete(&self.inbox(holder), &DeleteParams::default())
                            .await;
                    }
                }
                _ => {}
            }
        }
        members.sort();
        members.dedup();
        *self.members.lock().expect("members lock") = members.clone();
        for shard in 0..shards.count() {
            let name = self.shard_lease(shard);
            let current = leases
                .iter()
                .find(|l| l.metadata.name.as_deref() == Some(&name))
                .cloned();
            let mine = preferred(shard, &members) == Some(self.identity.as_str());
            let decision = decide(
                current.as_ref().and_then(|l| l.spec.as_ref()),
                &self.identity,
                now,
                self.duration,
            );
            let handing_over = shards.slot(shard).handing_over.load(Ordering::SeqCst);
            match decision {
                Decision::Follow { .. } => shards.lost(shard),
                Decision::Acquire if !mine || handing_over => shards.lost(shard),
                Decision::Renew | Decision::Acquire => {
                    if decision == Decision::Renew && !mine && !handing_over {
                        // Another live replica should have it: no new reconciles here;
                        // once those in flight finish, the Lease is released.
                        shards
                            .slot(shard)
                            .handing_over
                            .store(true, Ordering::SeqCst);
                        shards.stop(shard);
                        tokio::spawn(self.clone().hand_over(shards.clone(), shard));
                    }
                    // Held (also while handing over, so that it cannot expire while
                    // reconciles are still in flight): renew.
                    match self.elector(&name).try_lead_from(current).await {
                        Ok(true) if mine && !handing_over => shards.took(shard),
                        Ok(true) => {}
                        Ok(false) => shards.lost(shard),
                        Err(error) => {
                            tracing::warn!(shard, %error, "could not renew the shard's Lease");
                            if shards.renewal_older_than(shard, self.duration * 2 / 3) {
                                shards.lost(shard);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Waits for the reconciles in flight of `shard`, then releases its Lease.
    async fn hand_over(self: Arc<Self>, shards: Arc<Shards>, shard: u32) {
        shards.wait_idle(shard).await;
        let name = self.shard_lease(shard);
        for _ in 0..5 {
            match self.api.get_opt(&name).await {
                Ok(Some(lease))
                    if lease
                        .spec
                        .as_ref()
                        .and_then(|s| s.holder_identity.as_deref())
                        == Some(self.identity.as_str()) =>
                {
                    if self.release(lease).await {
                        tracing::info!(shard, "handed the shard over");
                        break;
                    }
                }
                Ok(_) => break,
                Err(error) => tracing::warn!(shard, %error, "cannot read the shard's Lease"),
            }
            tokio::time::sleep(self.duration / 10).await;
        }
        shards
            .slot(shard)
            .handing_over
            .store(false, Ordering::SeqCst);
    }

    /// Writes `lease` without a holder; false if someone wrote it since it was read.
    async fn release(&self, mut lease: Lease) -> bool {
        let Some(spec) = lease.spec.as_ref() else {
            return true;
        };
        lease.spec = Some(released_spec(spec));
        let name = lease.metadata.name.clone().unwrap_or_default();
        match self
            .api
            .replace(&name, &kube::api::PostParams::default(), &lease)
            .await
        {
            Ok(_) => true,
            Err(kube::Error::Api(status)) if status.code == 409 => false,
            Err(error) => {
                tracing::warn!(%error, lease = %name, "could not release the Lease; it expires by itself");
                true
            }
        }
    }

    /// Hands every held shard over (reconciles have finished) and gives up membership.
    pub async fn release_all(&self, shards: &Shards) {
        for shard in shards.held() {
            shards.stop(shard);
            shards.wait_idle(shard).await;
            if let Ok(Some(lease)) = self.api.get_opt(&self.shard_lease(shard)).await
                && lease
                    .spec
                    .as_ref()
                    .and_then(|s| s.holder_identity.as_deref())
                    == Some(self.identity.as_str())
            {
                self.release(lease).await;
            }
        }
        let member = format!("{}{}", self.member_prefix(), member_suffix(&self.identity));
        let _ = self.api.delete(&member, &DeleteParams::default()).await;
        let _ = self
            .inboxes()
            .delete(&self.inbox(&self.identity), &DeleteParams::default())
            .await;
    }
}

/// A Lease name's part for `identity`: lower case, `[a-z0-9-.]` only.
fn member_suffix(identity: &str) -> String {
    identity
        .to_ascii_lowercase()
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            _ => '-',
        })
        .collect()
}

/// Whether `lease` has not been renewed for longer than `age`.
fn expired_for(lease: &Lease, now: Timestamp, age: Duration) -> bool {
    let Some(spec) = lease.spec.as_ref() else {
        return true;
    };
    let last = spec.renew_time.as_ref().or(spec.acquire_time.as_ref());
    last.is_none_or(|t| {
        u64::try_from(now.duration_since(t.0).as_secs()).is_ok_and(|s| s >= age.as_secs())
    })
}

/// Runs rounds until `shutdown`: every fifth of the lease duration, so that a shard whose
/// holder died is taken within the lease's duration and a fifth.
pub async fn keep_shards(
    leases: Arc<ShardLeases>,
    shards: Arc<Shards>,
    health: super::http::Health,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let round = leases.round(&shards).await;
        health.set_leases_reachable(round.is_ok());
        if let Err(error) = round {
            tracing::warn!(%error, "cannot reach the shard Leases");
            for shard in shards.held() {
                if shards.renewal_older_than(shard, leases.duration * 2 / 3) {
                    shards.lost(shard);
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(leases.duration / 5) => {}
            _ = shutdown.wait_for(|stop| *stop) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(namespace: &str, uid: &str) -> ObjectMeta {
        ObjectMeta {
            namespace: Some(namespace.into()),
            uid: Some(uid.into()),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn by_cluster_a_clusters_daemons_and_groups_share_a_shard() {
        use crate::daemon_service::DaemonService;
        use crate::scaling_group::ScalingGroup;
        let shards = Shards::new(64, ShardKey::Cluster);
        let daemon = |namespace: &str, cluster: &str| {
            DeserializeGuard(Ok(serde_yaml_ng::from_str::<DaemonService>(&format!(
                "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {{name: agent, namespace: {namespace}}}\nspec: {{cluster: {cluster}, taskDefinition: {{family: a, containerDefinitions: [{{name: a, image: a, memory: 64}}]}}}}\n"
            ))
            .unwrap()))
        };
        let group = |namespace: &str, cluster: &str| {
            DeserializeGuard(Ok(serde_yaml_ng::from_str::<ScalingGroup>(&format!(
                "apiVersion: ecsfleet.dev/v1alpha1\nkind: ScalingGroup\nmetadata: {{name: hosts, namespace: {namespace}}}\nspec: {{ecsCluster: {cluster}, minSize: 0, maxSize: 1, availabilityZones: [eu-west-1a], launchTemplateRef: {{name: t}}}}\n"
            ))
            .unwrap()))
        };
        let workers = shards.shard_of(&daemon("monitoring", "workers"));
        // Another team's DaemonService of the cluster, by name or ARN, and the group.
        assert_eq!(shards.shard_of(&daemon("security", "workers")), workers);
        assert_eq!(
            shards.shard_of(&daemon(
                "security",
                "arn:aws:ecs:eu-west-1:123456789012:cluster/workers"
            )),
            workers
        );
        assert_eq!(shards.shard_of(&group("platform", "workers")), workers);
        // Clusters spread: of 20 clusters' objects, more than one shard.
        let spread: std::collections::BTreeSet<u32> = (0..20)
            .map(|i| shards.shard_of(&daemon("monitoring", &format!("cluster-{i}"))))
            .collect();
        assert!(spread.len() > 1);
    }

    #[test]
    fn the_shard_of_an_object_is_stable() {
        // Fixed values: changing the hash would move objects between replicas mid-upgrade.
        assert_eq!(fnv1a(&[]), 0xcbf2_9ce4_8422_2325);
        let team = meta("team-a", "1");
        let first = shard_of(&team, None, ShardKey::Namespace, 7);
        assert_eq!(
            first,
            shard_of(&meta("team-a", "2"), None, ShardKey::Namespace, 7)
        );
        assert_eq!(shard_of(&team, None, ShardKey::Namespace, 1), 0);
        assert!(first < 7);
    }

    #[test]
    fn objects_spread_over_the_shards() {
        for key in [ShardKey::Namespace, ShardKey::Uid] {
            let mut counts = [0u32; 4];
            for i in 0..4000 {
                let text = format!("team-{i}");
                counts[shard_of(&meta(&text, &text), None, key, 4) as usize] += 1;
            }
            assert!(
                counts.iter().all(|c| (800..1200).contains(c)),
                "{key:?}: {counts:?}"
            );
        }
    }

    #[test]
    fn rendezvous_moves_only_the_shards_of_a_member_that_leaves() {
        let three: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let two: Vec<String> = ["a", "c"].map(String::from).to_vec();
        let mut held_by = std::collections::BTreeMap::<&str, u32>::new();
        for shard in 0..60 {
            let before = preferred(shard, &three).unwrap();
            let after = preferred(shard, &two).unwrap();
            *held_by.entry(before).or_default() += 1;
            if before != "b" {
                assert_eq!(before, after, "shard {shard} moved without need");
            } else {
                assert_ne!(after, "b");
            }
        }
        assert!(held_by.values().all(|n| *n >= 10), "{held_by:?}");
        assert_eq!(preferred(0, &[]), None);
    }

    #[test]
    fn replicas_named_alike_share_the_shards() {
        // Pod names of one Deployment differ only in their last characters.
        let two: Vec<String> = ["ecsfleet-6d5f7c9b8-x2k4p", "ecsfleet-6d5f7c9b8-q8r7t"]
            .map(String::from)
            .to_vec();
        let mut held = std::collections::BTreeMap::<&str, u32>::new();
        for shard in 0..12 {
            *held.entry(preferred(shard, &two).unwrap()).or_default() += 1;
        }
        assert!(
            held.len() == 2 && held.values().all(|n| *n >= 3),
            "{held:?}"
        );
        let three: Vec<String> = ["replica-a", "replica-b", "replica-c"]
            .map(String::from)
            .to_vec();
        let mut held = std::collections::BTreeMap::<&str, u32>::new();
        for shard in 0..120 {
            *held.entry(preferred(shard, &three).unwrap()).or_default() += 1;
        }
        assert!(
            held.len() == 3 && held.values().all(|n| *n >= 25),
            "{held:?}"
        );
    }

    #[tokio::test]
    async fn a_shard_is_handed_over_only_after_its_reconciles_finish() {
        let shards = Shards::new(1, ShardKey::Namespace);
        // An object that does not decode still has its shard (by its namespace).
        let object = DeserializeGuard::<crate::integration_role::IntegrationRole>(Err(
            kube::core::error_boundary::InvalidObject {
                error: "any object".into(),
                metadata: meta("team", "1"),
            },
        ));
        assert!(shards.enter(&object).is_none(), "not held yet");
        let mut changes = shards.subscribe();
        shards.took(0);
        assert_eq!(changes.try_recv().ok(), Some(0));
        let in_flight = shards.enter(&object).expect("held");
        shards.stop(0);
        let draining = {
            let shards = shards.clone();
            tokio::spawn(async move { shards.wait_idle(0).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!draining.is_finished(), "waits for the reconcile in flight");
        assert!(shards.enter(&object).is_none(), "no new reconcile starts");
        drop(in_flight);
        draining.await.unwrap();
        assert!(shards.held().is_empty());
        assert_eq!(changes.try_recv().ok(), Some(0));
    }

    #[test]
    fn a_lost_shard_is_left_at_once_and_announced() {
        let shards = Shards::new(2, ShardKey::Namespace);
        shards.took(1);
        assert_eq!(shards.held(), vec![1]);
        let mut changes = shards.subscribe();
        shards.lost(1);
        shards.lost(1);
        assert!(shards.held().is_empty());
        assert_eq!(changes.try_recv().ok(), Some(1));
        assert!(changes.try_recv().is_err(), "announced once");
    }

    #[test]
    fn the_selectors_pick_the_held_shards_and_the_unplaced_objects() {
        let shards = Shards::new(12, ShardKey::Namespace);
        assert_eq!(
            shards.selector(&[1, 5]),
            "ecsfleet.dev/shards=12,ecsfleet.dev/shard in (1,5)"
        );
        // Holding none: a selector no label value matches (shard labels are numbers).
        assert_eq!(
            shards.selector(&[]),
            "ecsfleet.dev/shards=12,ecsfleet.dev/shard in (none)"
        );
        // Objects without the label, or labelled for another number of shards.
        assert_eq!(shards.unplaced_selector(), "ecsfleet.dev/shards!=12");
    }

    #[test]
    fn member_lease_names_are_valid() {
        assert_eq!(member_suffix("Host_1-4242"), "host-1-4242");
    }
}
