//! DaemonService: an ECS service that runs exactly one task on every ACTIVE container
//! instance of a cluster, with a desired count that follows the cluster.
//!
//! Read in order (each file imports only from those before it): `api` (the CRD types),
//! `task_definition` and `filter` (the spec's task definition and cluster query),
//! `ecs` (ECS as both scheduling paths see it), `desired` (spec → validated `Desired`),
//! `capacity` (the cluster's capacity providers and the mode they call for), `cache`
//! (the process-wide, batched view of each cluster: `Shared`), `observe`, `plan` (pure),
//! `apply` (and deletion), `status` (status fields and the Ready rule), and this file,
//! which wires the steps into the runtime. A Managed Daemon's part of each stage is the
//! stage's `daemon` module (`observe/daemon.rs`, `plan/daemon.rs`, `apply/daemon.rs`).

pub mod api;
pub mod apply;
pub mod cache;
pub mod capacity;
pub mod desired;
pub mod ecs;
pub mod filter;
pub mod observe;
pub mod plan;
pub mod status;
pub mod task_definition;

pub use api::*;
pub use cache::Shared;

use std::sync::Arc;

use async_trait::async_trait;

use crate::Result;
use crate::runtime::hosts::ClusterChange;
use crate::runtime::triggers;
use crate::runtime::{Env, Intent, Managed, ObjectAws, Outcome, Pipeline, PlannedChange};
use cache::EcsObserver;
use desired::{Desired, DesiredTaskDefinition};
use observe::Observed;
use plan::Change;

/// The DaemonServices that AWS events (`receiver`) concern. The cached answer about an
/// event's service is forgotten before its objects are named, so that the reconcile
/// reads what the event announced instead of an answer fetched before it.
pub fn reconciles_for_events(
    store: kube::runtime::reflector::Store<kube::core::DeserializeGuard<DaemonService>>,
    receiver: tokio::sync::broadcast::Receiver<triggers::Trigger>,
    default_region: Option<String>,
    clusters: Arc<EcsObserver>,
) -> impl futures::Stream<
    Item = kube::runtime::reflector::ObjectRef<kube::core::DeserializeGuard<DaemonService>>,
> + Send
+ 'static {
    use futures::StreamExt;
    let forgotten = triggers::received(receiver).map(move |trigger| {
        if let triggers::Trigger::Service {
            region,
            cluster,
            service,
        } = &trigger
        {
            clusters.forget_service_in(region, cluster, service);
        }
        trigger
    });
    triggers::reconciles_for(store, forgotten, move |obj: &DaemonService, trigger| {
        triggers::Concerns::concerns(obj, trigger, default_region.as_deref())
    })
}

#[async_trait]
impl Managed for DaemonService {
    type Status = DaemonServiceStatus;
    type Shared = Shared;
    type Desired = Desired;
    type Observed = Observed;
    type Change = Change;

    crate::common_fields!(DaemonServiceStatus);

    fn check_grant(&self, grant: &crate::tenancy::Grant) -> Result<()> {
        desired::check_grant(self, grant)
    }

    fn resync_group(&self) -> Option<String> {
        let common = &self.spec.common;
        Some(format!(
            "{}/{}/{}",
            common.region.as_deref().unwrap_or_default(),
            common.assume_role_arn.as_deref().unwrap_or_default(),
            self.spec.cluster
        ))
    }

    fn shard_group(&self) -> Option<String> {
        Some(self.spec.common.cluster_group(&self.spec.cluster))
    }

    async fn desired(&self, env: &Env, _intent: Intent) -> Result<Desired> {
        let mut desired = Desired::from_spec(self)?;
        if matches!(desired.task_definition, DesiredTaskDefinition::Reference(_)) {
            desired.reference_grant = Some(env.grant(self));
        }
        Ok(desired)
    }

    async fn observe(
        &self,
        desired: &Desired,
        pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Observed> {
        observe::observe(desired, &pipeline.shared, aws).await
    }

    fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<Change>> {
        plan::plan(desired, observed)
    }

    async fn apply(
        &self,
        desired: &Desired,
        observed: Observed,
        changes: &[Change],
        pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Outcome<DaemonServiceStatus>> {
        let applied = apply::apply(desired, changes, &pipeline.shared, aws).await?;
        Ok(status::outcome(desired, &observed, applied))
    }

    async fn delete(
        &self,
        _pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Vec<PlannedChange>> {
        // Deletion needs only the names, so that even an invalid spec can be deleted.
        if self.spec.cluster.is_empty() {
            return Ok(Vec::new());
        }
        let daemon = self.status.as_ref().is_some_and(|s| s.daemon_arn.is_some())
            || self.spec.scheduling == Some(Scheduling::ManagedDaemon)
            || self.status.as_ref().and_then(|s| s.scheduling) == Some(Scheduling::ManagedDaemon);
        if daemon {
            return apply::daemon::delete(self, &aws.clients).await;
        }
        apply::delete(self, &aws.clients).await
    }
}

/// The DaemonServices in `store` that changes of Auto Scaling group instances concern
/// (same cluster, same region), as a stream of reconcile requests for the controller.
pub fn reconciles_for_cluster_changes(
    store: kube::runtime::reflector::Store<kube::core::DeserializeGuard<DaemonService>>,
    changes: tokio::sync::broadcast::Receiver<ClusterChange>,
    default_region: Option<String>,
) -> impl futures::Stream<
    Item = kube::runtime::reflector::ObjectRef<kube::core::DeserializeGuard<DaemonService>>,
> + Send
+ 'static {
    triggers::reconciles_for(
        store,
        triggers::received(changes),
        move |obj: &DaemonService, change: &ClusterChange| {
            obj.counts_hosts()
                && obj.on_cluster(&change.region, &change.cluster, default_region.as_deref())
        },
    )
}

impl DaemonService {
    /// Whether its desired count follows the cluster's hosts: not once it runs as a DAEMON
    /// service or a Managed Daemon (ECS follows the hosts itself, and the service's own
    /// events report its tasks), so a change of hosts need not reconcile it.
    fn counts_hosts(&self) -> bool {
        !matches!(
            self.status.as_ref().and_then(|s| s.scheduling),
            Some(Scheduling::Daemon | Scheduling::ManagedDaemon)
        )
    }

    /// Whether this object's service runs in `cluster` (name or ARN) of `region`.
    fn on_cluster(&self, region: &str, cluster: &str, default_region: Option<&str>) -> bool {
        ecs::cluster_name(&self.spec.cluster) == ecs::cluster_name(cluster)
            && triggers::same_region(self.spec.common.region.as_ref(), default_region, region)
    }
}

impl triggers::Concerns for DaemonService {
    fn concerns(&self, trigger: &triggers::Trigger, default_region: Option<&str>) -> bool {
        match trigger {
            triggers::Trigger::Service {
                region,
                cluster,
                service,
            } => {
                self.on_cluster(region, cluster, default_region) && self.service_name() == *service
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;
    use kube::runtime::watcher;

    use super::*;

    fn on(cluster: &str, name: &str, scheduling: Option<Scheduling>) -> DaemonService {
        let mut obj: DaemonService = serde_json::from_value(serde_json::json!({
            "apiVersion": "ecsfleet.dev/v1alpha1",
            "kind": "DaemonService",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"cluster": cluster, "taskDefinition": {"arn": "agent:1"}},
        }))
        .unwrap();
        obj.status = scheduling.map(|scheduling| DaemonServiceStatus {
            scheduling: Some(scheduling),
            ..DaemonServiceStatus::default()
        });
        obj
    }

    #[tokio::test]
    async fn a_change_of_hosts_reconciles_only_the_services_that_count_them() {
        let (store, mut writer) = kube::runtime::reflector::store();
        for obj in [
            on("fleet", "per-instance", Some(Scheduling::PerInstance)),
            on("fleet", "not-yet-known", None),
            on("fleet", "daemon", Some(Scheduling::Daemon)),
            on("fleet", "managed", Some(Scheduling::ManagedDaemon)),
            on("other", "elsewhere", Some(Scheduling::PerInstance)),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(kube::core::DeserializeGuard(Ok(
                obj,
            ))));
        }
        let (sender, receiver) = tokio::sync::broadcast::channel(4);
        let reconciles = reconciles_for_cluster_changes(store, receiver, Some("eu-west-1".into()));
        sender
            .send(ClusterChange {
                region: "eu-west-1".into(),
                cluster: "arn:aws:ecs:eu-west-1:123456789012:cluster/fleet".into(),
            })
            .unwrap();
        drop(sender);
        let mut names: Vec<String> = reconciles.map(|r| r.name).collect().await;
        names.sort();
        assert_eq!(names, ["not-yet-known", "per-instance"]);
    }
}
