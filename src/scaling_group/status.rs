//! The report step for ScalingGroup: status and the Ready rule.

use super::desired::{DESIRED_CAPACITY_TAG, Desired, PolicyKind, is_active_refresh};
use super::observe::Observed;
use super::plan;
use super::{InstanceCounts, PolicyStatus, ScalingGroupStatus};
use crate::runtime::{Change as _, Outcome, PlannedChange, Readiness};

/// The outcome of a sync, from the observation made after applying.
pub fn outcome(
    desired: &Desired,
    observed: &Observed,
    applied: Vec<PlannedChange>,
) -> Outcome<ScalingGroupStatus> {
    let group = observed.group.as_ref();
    let instances = group.map(|g| {
        let count = |states: &[&str]| {
            g.instances
                .iter()
                .filter(|i| states.iter().any(|s| i.lifecycle_state.starts_with(s)))
                .count() as i32
        };
        InstanceCounts {
            in_service: count(&["InService"]),
            pending: count(&["Pending"]),
            terminating: count(&["Terminating"]),
            total: g.instances.len() as i32,
            on_demand: observed
                .spot_instances
                .map(|spot| (count(&["InService", "Pending"]) - spot).max(0)),
            spot: observed.spot_instances,
        }
    });
    let status = ScalingGroupStatus {
        group_arn: group.and_then(|g| g.arn.clone()),
        launch_template_id: group
            .and_then(|g| g.template.as_ref())
            .map(|t| t.id.clone()),
        launch_template_version: group
            .and_then(|g| g.template.as_ref())
            .map(|t| t.version.clone()),
        desired_capacity: group.map(|g| g.desired_capacity),
        applied_desired_capacity: group
            .and_then(|g| g.tags.get(DESIRED_CAPACITY_TAG))
            .and_then(|(v, _)| v.parse().ok()),
        instances: instances.clone(),
        policies: desired
            .policies
            .iter()
            .map(|p| PolicyStatus {
                name: p.name.clone(),
                arn: observed
                    .policies
                    .get(&p.name)
                    .map(|live| live.arn.clone())
                    .filter(|arn| !arn.is_empty()),
                alarm: match &p.kind {
                    PolicyKind::Alarm { alarm, .. } => Some(alarm.name.clone()),
                    PolicyKind::TargetTracking { .. } | PolicyKind::Predictive(_) => None,
                },
            })
            .collect(),
        warm_pool: desired
            .warm_pool
            .as_ref()
            .map(|pool| super::WarmPoolStatus {
                size: observed.warm_pool.as_ref().map_or(0, |(_, size)| *size),
                pool_state: Some(pool.pool_state.clone()),
            }),
        scheduled_actions: u32::try_from(desired.scheduled.len())
            .ok()
            .filter(|n| *n > 0),
        topic_arn: desired
            .notifications
            .as_ref()
            .and(observed.topic_arn.clone()),
        instance_refresh: observed
            .refresh
            .clone()
            .or_else(|| desired.previous_refresh.clone()),
        common: Default::default(),
    };
    // What is still out of line after applying (normally nothing).
    let pending = plan::plan(desired, observed)
        .map(|changes| changes.iter().map(|c| c.describe()).collect::<Vec<_>>())
        .unwrap_or_default();
    let refresh = status.instance_refresh.as_ref().filter(|r| {
        // Only a refresh towards the template version the group now has counts.
        r.launch_template_version.is_none()
            || r.launch_template_version == status.launch_template_version
    });
    let readiness = match (group, &instances, pending.first()) {
        (None, _, _) => Readiness {
            ready: false,
            stalled: false,
            reason: "GroupMissing".into(),
            message: format!("Auto Scaling group {} does not exist", desired.name),
        },
        (Some(_), _, Some(change)) => Readiness {
            ready: false,
            stalled: false,
            reason: "Converging".into(),
            message: format!("not yet in line with the spec: {change}"),
        },
        (Some(_), _, None) if refresh.is_some_and(|r| is_active_refresh(&r.status)) => Readiness {
            ready: false,
            stalled: false,
            reason: "InstanceRefreshInProgress".into(),
            message: format!(
                "instance refresh {} is {}",
                refresh.map(|r| r.id.as_str()).unwrap_or_default(),
                refresh.map(|r| r.status.as_str()).unwrap_or_default()
            ),
        },
        (Some(_), _, None) if refresh.is_some_and(|r| is_failed_refresh(&r.status)) => Readiness {
            ready: false,
            stalled: true,
            reason: "InstanceRefreshFailed".into(),
            message: format!(
                "instance refresh {} ended {}: the instances may not run the current template; change the spec to try again",
                refresh.map(|r| r.id.as_str()).unwrap_or_default(),
                refresh.map(|r| r.status.as_str()).unwrap_or_default()
            ),
        },
        (Some(_), Some(counts), None) if counts.in_service < desired.min_size => Readiness {
            ready: false,
            stalled: false,
            reason: "WaitingForInstances".into(),
            message: format!(
                "{} of at least {} instances in service",
                counts.in_service, desired.min_size
            ),
        },
        (Some(g), _, None) => Readiness {
            ready: true,
            stalled: false,
            reason: "Ready".into(),
            message: format!(
                "{} in service of {} desired; {} policies, {} hooks in line",
                instances.as_ref().map(|c| c.in_service).unwrap_or(0),
                g.desired_capacity,
                desired.policies.len(),
                desired.hooks.len()
            ),
        },
    };
    Outcome::new(applied, status, readiness)
}

/// A refresh that ended without replacing the instances.
fn is_failed_refresh(status: &str) -> bool {
    matches!(
        status,
        "Failed" | "Cancelled" | "RollbackFailed" | "RollbackSuccessful"
    )
}
