//! Observe: what one DaemonService's desired state maps to in ECS today, read through
//! the shared cache (`cache.rs`): the cluster's mode and capacity, its hosts, the
//! service or Managed Daemon, and the task definition revision the spec resolves to.

use std::sync::Arc;

use super::Scheduling;
use super::cache::ClusterPeers;
use super::cache::Shared;
use super::capacity::{self, ClusterCapacity};
use super::desired::Desired;
use super::ecs::{
    ClusterKey, ContainerInstance, ObservedService, ObservedTaskDefinition, cluster_name,
};
use crate::Result;
use crate::runtime::ObjectAws;

pub mod daemon;

pub use daemon::ObservedDaemon;

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
            daemon::observe(desired, &cluster_arn, shared, clients, &key).await?;
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
