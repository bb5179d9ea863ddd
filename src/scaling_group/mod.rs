//! ScalingGroup: an EC2 Auto Scaling group with its launch template, scaling policies and
//! their CloudWatch alarms, SNS notifications and lifecycle hooks, as one object.
//!
//! Read in order: `api` (the CRD types), this file (the steps wired together), `desired` (spec → validated `Desired`),
//! `observe` (the group, the managed launch template, policies, alarms, notifications
//! and hooks), `plan` (pure), `apply` (and deletion; policy ARNs are read back with
//! `DescribePolicies` when an answer lacks them), `status` (status and the Ready rule).

pub mod api;
pub mod apply;
pub mod desired;
pub mod observe;
pub mod overrides;
pub mod plan;
pub mod status;

pub use api::*;

use async_trait::async_trait;

use crate::Result;
use crate::common::Owner;
use crate::runtime::triggers;
use crate::runtime::{Env, Intent, Managed, ObjectAws, Outcome, Pipeline, PlannedChange};
use desired::Desired;
use observe::Observed;
use plan::Change;

impl ScalingGroup {
    /// The group's name: `spec.name` or `metadata.name`.
    /// Whether `trigger` names this group, or one of its policies' alarms.
    fn names_this_group(&self, trigger: &triggers::Trigger, default_region: Option<&str>) -> bool {
        let group = self.group_name();
        match trigger {
            triggers::Trigger::Group {
                region,
                group: name,
            } => {
                *name == group
                    && triggers::same_region(
                        self.spec.common.region.as_ref(),
                        default_region,
                        region,
                    )
            }
            triggers::Trigger::Alarms { region, names } => {
                triggers::same_region(self.spec.common.region.as_ref(), default_region, region)
                    && self
                        .spec
                        .scaling_policies
                        .iter()
                        .any(|policy| names.contains(&format!("{group}-{}", policy.name)))
            }
            _ => false,
        }
    }

    pub fn group_name(&self) -> String {
        self.spec
            .name
            .clone()
            .unwrap_or_else(|| self.metadata.name.clone().unwrap_or_default())
    }

    pub fn owner(&self) -> Owner {
        Owner::from_meta(&self.metadata)
    }
}

#[async_trait]
impl Managed for ScalingGroup {
    type Status = ScalingGroupStatus;
    type Shared = ();
    type Desired = Desired;
    type Observed = Observed;
    type Change = Change;

    crate::common_fields!(ScalingGroupStatus);

    /// The ECS cluster its hosts join: with `--shard-key cluster`, the group shares a
    /// shard with that cluster's DaemonServices, which it wakes when its hosts change.
    fn shard_group(&self) -> Option<String> {
        self.spec
            .ecs_cluster
            .as_deref()
            .map(|cluster| self.spec.common.cluster_group(cluster))
    }

    fn check_grant(&self, grant: &crate::tenancy::Grant) -> Result<()> {
        desired::check_grant(self, grant)
    }

    async fn desired(&self, _env: &Env, _intent: Intent) -> Result<Desired> {
        Desired::from_spec(self)
    }

    async fn observe(
        &self,
        desired: &Desired,
        _pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Observed> {
        observe::observe(desired, &aws.clients).await
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
    ) -> Result<Outcome<ScalingGroupStatus>> {
        let clients = &aws.clients;
        let applied = apply::apply(desired, &observed, changes, clients).await?;
        let mut after = if changes.is_empty() {
            observed
        } else {
            observe::observe(desired, clients).await?
        };
        if after.refresh.is_none() && changes.contains(&Change::StartInstanceRefresh) {
            // Report the refresh just started, even when its instances are replaced.
            after.refresh = observe::newest_refresh(clients, &desired.name).await?;
        }
        if let Some(cluster) = &desired.ecs_cluster {
            pipeline.env.hosts.note(
                &desired.owner.key(),
                &clients.region,
                cluster,
                after.instance_fingerprint(),
            );
        }
        Ok(status::outcome(desired, &after, applied))
    }

    async fn delete(
        &self,
        pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Vec<PlannedChange>> {
        let done = apply::delete(self, &aws.clients).await?;
        pipeline
            .env
            .hosts
            .forget(&self.owner().key(), &aws.clients.region);
        Ok(done)
    }
}

impl triggers::Concerns for ScalingGroup {
    fn concerns(&self, trigger: &triggers::Trigger, default_region: Option<&str>) -> bool {
        self.names_this_group(trigger, default_region)
    }
}
