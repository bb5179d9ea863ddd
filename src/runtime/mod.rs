//! What every kind shares at run time: the environment a reconcile runs in, the
//! `Managed` trait each kind implements, status and condition reporting, events, the
//! controller wiring and metrics.

pub mod conditions;
pub mod controller;
pub mod http;
pub mod lease;
pub mod metrics;
pub mod report;
pub mod secrets;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use kube::runtime::reflector::Store;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Result;
use crate::aws::{AccountClients, AwsFactory, AwsTarget};
use crate::common::{CommonSpec, CommonStatus};
use crate::daemon_service::DaemonService;
use crate::daemon_service::observe::EcsObserver;
use metrics::Metrics;
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

/// The kind-specific verdict on readiness.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    pub ready: bool,
    pub reason: String,
    pub message: String,
}

/// What one successful sync did and found.
#[derive(Clone, Debug)]
pub struct Outcome<S> {
    /// The changes applied, in order.
    pub applied: Vec<PlannedChange>,
    /// How many of them repaired drift (AWS changed behind our back) rather than following
    /// a spec change or creating something.
    pub drift_repairs: u64,
    /// The kind's status fields after the sync (the common fields are filled in later).
    pub status: S,
    pub readiness: Readiness,
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

/// Auto Scaling group instances changed in an ECS cluster: its DaemonServices should look
/// again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterChange {
    pub region: String,
    /// The cluster's name (or ARN, as the ScalingGroup gives it).
    pub cluster: String,
}

/// The instances each ScalingGroup with an `ecsCluster` saw last, and the channel on which
/// their changes go to the DaemonService controller.
pub struct InstanceWatch {
    last: std::sync::Mutex<std::collections::HashMap<String, Vec<(String, String)>>>,
    changes: tokio::sync::broadcast::Sender<ClusterChange>,
}

impl Default for InstanceWatch {
    fn default() -> Self {
        InstanceWatch {
            last: Default::default(),
            changes: tokio::sync::broadcast::channel(256).0,
        }
    }
}

/// Everything a reconcile needs besides the object: AWS clients, secrets, shared
/// observation caches and metrics. One per process.
#[derive(Clone)]
pub struct Env {
    pub aws: AwsFactory,
    pub secrets: Secrets,
    pub ecs: Arc<EcsObserver>,
    pub daemon_services: Directory<DaemonService>,
    pub instance_watch: Arc<InstanceWatch>,
}

impl Env {
    pub fn new(aws: AwsFactory, secrets: Secrets, ecs_freshness: std::time::Duration) -> Self {
        Env {
            aws,
            secrets,
            ecs: Arc::new(EcsObserver::new(ecs_freshness)),
            daemon_services: Directory::default(),
            instance_watch: Arc::default(),
        }
    }

    /// Records the instances (id, lifecycle state) a ScalingGroup `group` saw; when they
    /// differ from the last time, the cluster's cached container instances are dropped and
    /// its DaemonServices are told to reconcile.
    pub fn note_group_instances(
        &self,
        group: &str,
        region: &str,
        cluster: &str,
        instances: Vec<(String, String)>,
    ) {
        let changed = {
            let mut last = self
                .instance_watch
                .last
                .lock()
                .expect("instance watch lock");
            let key = format!("{region}/{group}");
            last.get(&key) != Some(&instances) && {
                last.insert(key, instances);
                true
            }
        };
        if changed {
            self.ecs.forget_instances(region, cluster);
            // Nobody listening (the CLI) is fine.
            let _ = self.instance_watch.changes.send(ClusterChange {
                region: region.to_string(),
                cluster: cluster.to_string(),
            });
        }
    }

    /// Forgets what a deleted ScalingGroup `group` saw, so the record does not outlive it.
    pub fn forget_group_instances(&self, group: &str, region: &str) {
        self.instance_watch
            .last
            .lock()
            .expect("instance watch lock")
            .remove(&format!("{region}/{group}"));
    }

    /// Changes of Auto Scaling group instances in ECS clusters, from now on.
    pub fn cluster_changes(&self) -> tokio::sync::broadcast::Receiver<ClusterChange> {
        self.instance_watch.changes.subscribe()
    }

    pub fn metrics(&self) -> &Metrics {
        self.aws.metrics()
    }

    /// The AWS clients for an object with `common` in `namespace`, and where they point.
    pub async fn clients(
        &self,
        namespace: &str,
        common: &CommonSpec,
    ) -> Result<(AwsTarget, AccountClients)> {
        let target = self.aws_target(namespace, common).await?;
        let clients = self.aws.clients(&target).await?;
        Ok((target, clients))
    }

    /// Where the AWS calls of an object with `common` in `namespace` go.
    pub async fn aws_target(&self, namespace: &str, common: &CommonSpec) -> Result<AwsTarget> {
        let assume_role_external_id = match &common.assume_role_external_id {
            Some(selector) => Some(
                self.secrets
                    .read(namespace, selector, "spec.assumeRoleExternalId")
                    .await?,
            ),
            None => None,
        };
        Ok(AwsTarget {
            region: common.region.clone(),
            assume_role_arn: common.assume_role_arn.clone(),
            assume_role_external_id,
        })
    }
}

/// A kind that ecsfleet reconciles. Each kind implements observe → plan → apply inside
/// `plan`, `sync` and `cleanup`; the runtime adds the finalizer, status, events and
/// metrics around them, the same way for every kind.
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

    fn common_spec(&self) -> &CommonSpec;
    fn status(&self) -> Option<&Self::Status>;
    fn common_status(status: &mut Self::Status) -> &mut CommonStatus;

    /// Observe and plan, writing nothing.
    async fn plan(&self, env: &Env) -> Result<Vec<PlannedChange>>;
    /// Observe, plan and apply; return what was done and the resulting status.
    async fn sync(&self, env: &Env) -> Result<Outcome<Self::Status>>;
    /// Delete the AWS resources (the runtime has already honoured `deletionPolicy`).
    /// NotFound counts as done; must not depend on the spec being valid beyond the names.
    async fn cleanup(&self, env: &Env) -> Result<Vec<PlannedChange>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Env::new(
            AwsFactory::from_config(config, Metrics::default()),
            Secrets::Files(Default::default()),
            std::time::Duration::from_secs(1),
        )
    }

    #[test]
    fn a_change_of_a_groups_instances_is_announced_once() {
        let env = env();
        let mut changes = env.cluster_changes();
        let one = vec![("i-1".to_string(), "InService".to_string())];
        env.note_group_instances("edge/workers", "eu-west-1", "production", one.clone());
        env.note_group_instances("edge/workers", "eu-west-1", "production", one.clone());
        let announced = changes.try_recv().unwrap();
        assert_eq!(announced.cluster, "production");
        assert!(
            changes.try_recv().is_err(),
            "the same instances are no change"
        );

        let two = vec![one[0].clone(), ("i-2".to_string(), "Pending".to_string())];
        env.note_group_instances("edge/workers", "eu-west-1", "production", two);
        assert!(changes.try_recv().is_ok());

        // A deleted group leaves no record behind.
        env.forget_group_instances("edge/workers", "eu-west-1");
        assert!(env.instance_watch.last.lock().unwrap().is_empty());
    }
}
