//! What every kind shares at run time: the environment a reconcile runs in, the
//! `Managed` trait each kind implements (desired → observe → plan → apply), the one
//! pipeline that runs those steps, status and condition reporting, events, the
//! controller wiring, leader election and the "hosts changed" signal.
//!
//! Layers, each importing only from the ones below it: `cli` → the kinds → `runtime` →
//! `aws` → `common`, `error`, `metrics`.

pub mod conditions;
pub mod controller;
pub mod events;
pub mod fairness;
pub mod hosts;
pub mod http;
pub mod inbox;
pub mod lease;
pub mod report;
pub mod schema;
pub mod secrets;
pub mod sharded_watch;
pub mod shards;
pub mod triggers;
pub mod turns;

use std::collections::HashMap;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kube::runtime::reflector::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::aws::{AccountClients, AwsFactory, AwsTarget};
use crate::common::{CommonSpec, CommonStatus, namespace_of};
use crate::metrics::Metrics;
use crate::tenancy::{Grant, Tenancy};
use hosts::HostsChanged;
use secrets::Secrets;

/// One change of a plan, as `plan` prints it and events report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlannedChange {
    /// What is done, e.g. `UpdateService`.
    pub action: String,
    /// What it is done to, e.g. `service/agent`.
    pub target: String,
    /// Why, in a few words, e.g. `desiredCount 3 -> 4`.
    pub detail: String,
}

impl fmt::Display for PlannedChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.action, self.target, self.detail)
    }
}

/// A kind's change, as its pure plan returns it.
pub trait Change {
    /// How `plan` prints it and an Event reports it.
    fn describe(&self) -> PlannedChange;
    /// Whether it repairs drift (AWS changed behind our back) rather than following a
    /// spec change or creating something.
    fn is_drift_repair(&self) -> bool;
}

/// The kind-specific verdict on readiness. Not ready is either progress (work under way:
/// `Reconciling`) or, with `stalled`, a state that will not get better by waiting (a
/// failed rollout or instance refresh: `Stalled`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub stalled: bool,
    pub reason: String,
    pub message: String,
}

/// What one successful sync did and found.
#[derive(Clone, Debug)]
pub struct Outcome<S> {
    /// The changes applied, in order.
    pub applied: Vec<PlannedChange>,
    /// How many of the plan's changes repaired drift (counted by the pipeline).
    pub drift_repairs: u64,
    /// The kind's status fields after the sync (the common fields are filled in later).
    pub status: S,
    pub readiness: Readiness,
}

impl<S> Outcome<S> {
    /// The outcome a kind's apply step reports; the pipeline counts the drift repairs.
    pub fn new(applied: Vec<PlannedChange>, status: S, readiness: Readiness) -> Self {
        Outcome {
            applied,
            drift_repairs: 0,
            status,
            readiness,
        }
    }
}

/// The objects of one kind that the process knows, for batching observations across
/// objects (e.g. one `DescribeServices` for up to ten DaemonServices of a cluster).
#[derive(Clone)]
pub enum Directory<K: kube::Resource<DynamicType = ()> + Clone + 'static> {
    /// The objects read from files by the CLI.
    Fixed(Arc<Vec<K>>),
    /// The controller's reflector stores (one per watched namespace).
    Stores(Vec<Store<kube::core::DeserializeGuard<K>>>),
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Directory<K> {
    /// `pick` applied to every known (decodable) object, keeping the `Some`s. Borrows the
    /// objects: a reconcile that needs a few fields of its peers copies only those.
    pub fn filter_map<T>(&self, pick: impl Fn(&K) -> Option<T>) -> Vec<T> {
        match self {
            Directory::Fixed(objects) => objects.iter().filter_map(pick).collect(),
            Directory::Stores(stores) => stores
                .iter()
                .flat_map(|store| store.state())
                .filter_map(|guard| guard.0.as_ref().ok().and_then(&pick))
                .collect(),
        }
    }
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Default for Directory<K> {
    fn default() -> Self {
        Directory::Fixed(Arc::default())
    }
}

/// Everything a reconcile of any kind needs besides the object: AWS clients, secrets,
/// the "hosts changed" signal and metrics. One per process.
#[derive(Clone)]
pub struct Env {
    pub aws: AwsFactory,
    pub secrets: Secrets,
    pub hosts: Arc<HostsChanged>,
    /// What each namespace may reach (the CLI without a TenancyPolicy: everything).
    pub tenancy: Tenancy,
    /// The last target of each object that assumes a role with an external ID, by
    /// namespace/name (in memory only, as the client cache already holds it): cleanup
    /// does not depend on a Secret that is deleted with the namespace, or before it.
    targets: Arc<Mutex<HashMap<String, AwsTarget>>>,
}

/// Where one object's AWS calls go, and the clients that make them.
#[derive(Clone, Debug)]
pub struct ObjectAws {
    pub target: AwsTarget,
    pub clients: AccountClients,
}

impl Env {
    pub fn new(aws: AwsFactory, secrets: Secrets) -> Self {
        Env {
            aws,
            secrets,
            hosts: Arc::default(),
            tenancy: Tenancy::Unrestricted,
            targets: Arc::default(),
        }
    }

    /// The environment with `tenancy` deciding what each namespace may reach.
    pub fn with_tenancy(mut self, tenancy: Tenancy) -> Self {
        self.tenancy = tenancy;
        self
    }

    /// What `obj`'s namespace may reach.
    pub fn grant<K: Managed>(&self, obj: &K) -> Grant {
        self.tenancy.grant(&namespace_of(obj.meta()))
    }

    pub fn metrics(&self) -> &Metrics {
        self.aws.metrics()
    }

    /// The AWS clients of `obj` (its region and role, cached per process).
    pub async fn object_aws<K: Managed>(&self, obj: &K) -> Result<ObjectAws> {
        let common = obj.common_spec();
        let assume_role_external_id = match &common.assume_role_external_id {
            Some(selector) => Some(
                self.secrets
                    .read(
                        &namespace_of(obj.meta()),
                        selector,
                        "spec.assumeRoleExternalId",
                    )
                    .await?,
            ),
            None => None,
        };
        let target = AwsTarget {
            region: common.region.clone(),
            assume_role_arn: self.grant(obj).assume_role_arn(common),
            assume_role_external_id,
            namespace: Some(namespace_of(obj.meta())),
        };
        let clients = self.aws.clients(&target).await?;
        let key = object_key(obj.meta());
        let mut targets = self.targets.lock().expect("targets lock");
        match target.assume_role_external_id {
            Some(_) => targets.insert(key, target.clone()),
            None => targets.remove(&key),
        };
        drop(targets);
        Ok(ObjectAws { target, clients })
    }

    /// The AWS clients to delete `obj`'s resources with: as [`Env::object_aws`], or, when
    /// the Secret holding its external ID is gone, the target this process last used for
    /// it. `None` when neither is known: nothing can act in that account any more.
    pub async fn cleanup_aws<K: Managed>(&self, obj: &K) -> Result<Option<ObjectAws>> {
        let key = object_key(obj.meta());
        match self.object_aws(obj).await {
            Ok(aws) => Ok(Some(aws)),
            Err(crate::Error::Missing { .. }) => {
                let remembered = self
                    .targets
                    .lock()
                    .expect("targets lock")
                    .get(&key)
                    .cloned();
                match remembered {
                    Some(target) => {
                        let clients = self.aws.clients(&target).await?;
                        Ok(Some(ObjectAws { target, clients }))
                    }
                    None => Ok(None),
                }
            }
            Err(error) => Err(error),
        }
    }
}

/// Why the desired state is being resolved: to preview, or to apply. Only `Apply` may
/// create what the spec asks the operator to generate (an external ID).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Plan,
    Apply,
}

/// A kind that ecsfleet reconciles. Each kind implements the steps in files of the same
/// names (`desired.rs`, `observe.rs`, `plan.rs`, `apply.rs`, `status.rs`); the
/// [`Pipeline`] runs them in that order, and the runtime adds the finalizer, status,
/// events and metrics around them, the same way for every kind.
#[async_trait]
pub trait Managed:
    kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + fmt::Debug
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The kind's status type.
    type Status: Clone + fmt::Debug + Default + PartialEq + Serialize + Send + Sync;
    /// What the kind's objects share in one process (caches, the other objects).
    type Shared: Send + Sync + 'static;
    /// The validated spec.
    type Desired: Send + Sync;
    /// The live AWS state the object maps to.
    type Observed: Send + Sync;
    /// One step of a plan.
    type Change: Change + Send + Sync;

    fn common_spec(&self) -> &CommonSpec;
    fn status(&self) -> Option<&Self::Status>;
    /// Objects that share AWS reads (the DaemonServices of one ECS cluster share its
    /// instance list and `DescribeServices` batches) resync together, so that one read
    /// serves them all instead of each finding its peers' answers gone stale. `None`: on
    /// the object's own schedule.
    fn resync_group(&self) -> Option<String> {
        None
    }
    /// The ECS cluster the object belongs to, as `<region>/<account>/<cluster name>`
    /// (region and account as the spec gives them, empty when unset): with
    /// `--shard-key cluster`, objects of one cluster share a shard. `None`: no cluster.
    fn shard_group(&self) -> Option<String> {
        None
    }
    fn common_status(status: &mut Self::Status) -> &mut CommonStatus;

    /// `desired.rs`: refuses, naming the field and the grant, what the namespace's
    /// [`Grant`] does not allow of the kind's own fields (the pipeline has checked the
    /// common ones). Runs before anything else, and before any AWS call.
    fn check_grant(&self, grant: &Grant) -> Result<()>;

    /// `desired.rs`: the spec validated (every refusal names its field) and what it
    /// references resolved. Runs before any AWS call.
    async fn desired(&self, env: &Env, intent: Intent) -> Result<Self::Desired>;
    /// `observe.rs`: read what `desired` maps to. Reads only.
    async fn observe(
        &self,
        desired: &Self::Desired,
        pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Self::Observed>;
    /// `plan.rs`: the changes that make `observed` match `desired`. Pure.
    fn plan(desired: &Self::Desired, observed: &Self::Observed) -> Result<Vec<Self::Change>>;
    /// `apply.rs` and `status.rs`: execute `changes` in order, idempotently, and report
    /// what was done, the status and readiness.
    async fn apply(
        &self,
        desired: &Self::Desired,
        observed: Self::Observed,
        changes: &[Self::Change],
        pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Outcome<Self::Status>>;
    /// `apply.rs`: delete the AWS resources (the runtime has already honoured
    /// `deletionPolicy`). NotFound counts as done; must not depend on the spec being
    /// valid beyond the names.
    async fn delete(
        &self,
        pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Vec<PlannedChange>>;
}

/// Implements [`Managed`]'s accessors of a kind whose spec and status hold the common
/// fields as `common`.
#[macro_export]
macro_rules! common_fields {
    ($status:ty) => {
        fn common_spec(&self) -> &$crate::common::CommonSpec {
            &self.spec.common
        }
        fn status(&self) -> Option<&$status> {
            self.status.as_ref()
        }
        fn common_status(status: &mut $status) -> &mut $crate::common::CommonStatus {
            &mut status.common
        }
    };
}

/// The steps of one kind, with everything its reconciles share: the process environment
/// and the kind's own state. The CLI and the controller both run objects through it, so
/// what `plan` prints is what the controller would do.
pub struct Pipeline<K: Managed> {
    pub env: Env,
    pub shared: Arc<K::Shared>,
    /// Objects whose spec `desired` refused, by namespace/name: the revision refused
    /// ([`revision`]). A refused spec is not worked out again until it changes.
    refused: Arc<Mutex<HashMap<String, u64>>>,
}

impl<K: Managed> Clone for Pipeline<K> {
    fn clone(&self) -> Self {
        Pipeline {
            env: self.env.clone(),
            shared: self.shared.clone(),
            refused: self.refused.clone(),
        }
    }
}

/// What `desired` reads of the object itself: its spec (whose every change moves
/// `metadata.generation`), its identity and ecsfleet's own annotations.
fn revision(meta: &kube::core::ObjectMeta) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    meta.uid.hash(&mut hasher);
    meta.generation.hash(&mut hasher);
    if let Some(annotations) = &meta.annotations {
        for (key, value) in annotations {
            if key.starts_with("ecsfleet.dev/") {
                (key, value).hash(&mut hasher);
            }
        }
    }
    hasher.finish()
}

/// `namespace/name`: how the runtime keys what it remembers of an object.
pub(crate) fn object_key(meta: &kube::core::ObjectMeta) -> String {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or_default(),
        meta.name.as_deref().unwrap_or_default()
    )
}

impl<K: Managed> Pipeline<K> {
    pub fn new(env: Env, shared: K::Shared) -> Self {
        Pipeline {
            env,
            shared: Arc::new(shared),
            refused: Arc::default(),
        }
    }

    /// Whether `desired` refused this very revision of the object already: its status
    /// says so, and working it out again (a large spec costs CPU) would only say it again.
    /// A refusal that depends on something outside the spec is never remembered: a
    /// missing Secret is waiting, and AWS's answers are checked again at every turn.
    pub fn refused_unchanged(&self, obj: &K) -> bool {
        let meta = obj.meta();
        self.refused
            .lock()
            .expect("refusals lock")
            .get(&object_key(meta))
            == Some(&self.revision(meta))
    }

    /// Forgets what was remembered of an object that is gone.
    pub fn forget(&self, obj: &K) {
        self.refused
            .lock()
            .expect("refusals lock")
            .remove(&object_key(obj.meta()));
    }

    /// Refuses what the object's namespace was not granted: the common fields, then the
    /// kind's.
    fn check_grant(&self, obj: &K) -> Result<()> {
        let grant = self.env.grant(obj);
        grant.check_common(obj.common_spec())?;
        obj.check_grant(&grant)
    }

    /// What identifies what `desired` reads of an object besides the Secrets it names:
    /// its spec (whose every change moves `metadata.generation`), its identity,
    /// ecsfleet's own annotations, and the tenancy policy.
    fn revision(&self, meta: &kube::core::ObjectMeta) -> u64 {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        revision(meta).hash(&mut hasher);
        self.env.tenancy.revision().hash(&mut hasher);
        hasher.finish()
    }

    /// Desired, observe and plan: what `apply` would change. Writes nothing.
    pub async fn plan(&self, obj: &K) -> Result<Vec<PlannedChange>> {
        self.check_grant(obj)?;
        let desired = obj.desired(&self.env, Intent::Plan).await?;
        let aws = self.env.object_aws(obj).await?;
        let observed = obj.observe(&desired, self, &aws).await?;
        let changes = K::plan(&desired, &observed)?;
        Ok(changes.iter().map(Change::describe).collect())
    }

    /// Desired, observe, plan and apply: what was done and the resulting status.
    pub async fn sync(&self, obj: &K) -> Result<Outcome<K::Status>> {
        let desired = match self.check_grant(obj) {
            Ok(()) => obj.desired(&self.env, Intent::Apply).await,
            Err(error) => Err(error),
        };
        let desired = match desired {
            Ok(desired) => {
                self.forget(obj);
                desired
            }
            Err(error) => {
                if matches!(error, crate::Error::InvalidSpec { .. }) {
                    let meta = obj.meta();
                    self.refused
                        .lock()
                        .expect("refusals lock")
                        .insert(object_key(meta), self.revision(meta));
                }
                return Err(error);
            }
        };
        let aws = self.env.object_aws(obj).await?;
        let observed = obj.observe(&desired, self, &aws).await?;
        let changes = K::plan(&desired, &observed)?;
        let drift_repairs = changes.iter().filter(|c| c.is_drift_repair()).count() as u64;
        let mut outcome = obj.apply(&desired, observed, &changes, self, &aws).await?;
        outcome.drift_repairs = drift_repairs;
        Ok(outcome)
    }

    /// Deletes the object's AWS resources (the caller honours `deletionPolicy`). When the
    /// Secret its role needs is gone and this process never used it, nothing can reach
    /// that account: the resources are left, and the change says so.
    /// An object whose Region or role its namespace may not use (it never could, or the
    /// policy changed since) is not cleaned up through them either: the resources are
    /// left, and the change names the refusal.
    pub async fn delete(&self, obj: &K) -> Result<Vec<PlannedChange>> {
        if let Err(refusal) = self.env.grant(obj).check_identity(obj.common_spec()) {
            return Ok(vec![PlannedChange {
                action: "LeaveResources".into(),
                target: "aws".into(),
                detail: format!("{refusal}: the AWS resources are left in place"),
            }]);
        }
        let Some(aws) = self.env.cleanup_aws(obj).await? else {
            return Ok(vec![PlannedChange {
                action: "LeaveResources".into(),
                target: "aws".into(),
                detail: "the Secret named by spec.assumeRoleExternalId is gone, so its role cannot be assumed: the AWS resources are left in place".into(),
            }]);
        };
        let changes = obj.delete(self, &aws).await?;
        self.env
            .targets
            .lock()
            .expect("targets lock")
            .remove(&object_key(obj.meta()));
        Ok(changes)
    }
}
