//! The report step for DaemonService: status fields and the Ready rule.

use super::apply::Applied;
use super::desired::Desired;
use super::observe::Observed;
use super::{DaemonServiceStatus, Scheduling};
use crate::runtime::{Outcome, Readiness};

/// The outcome of a sync: the status after `applied`, and readiness.
pub fn outcome(
    desired: &Desired,
    observed: &Observed,
    applied: Applied,
) -> Outcome<DaemonServiceStatus> {
    if observed.mode == Scheduling::ManagedDaemon {
        return daemon_outcome(observed, applied);
    }
    // The last write's answer is newer than the observation.
    let service = applied.service.as_ref().or(observed.service.as_ref());
    let matching_instances = observed.matching_instances(desired);
    let status = DaemonServiceStatus {
        scheduling: Some(observed.mode),
        daemon_arn: None,
        service_arn: service.map(|s| s.arn.clone()),
        task_definition_arn: service.and_then(|s| s.task_definition.clone()),
        matching_instances: Some(matching_instances),
        desired_count: service.map(|s| s.desired_count),
        running_count: service.map(|s| s.running_count),
        pending_count: service.map(|s| s.pending_count),
        rollout_state: service.and_then(|s| s.primary_rollout_state.clone()),
        redeployed: desired.redeploy.clone(),
        common: Default::default(),
    };
    let readiness = readiness(
        observed.mode,
        &status,
        service.map(|s| (s.is_active(), s.deployments)),
    );
    Outcome::new(applied.changes, status, readiness)
}

/// Ready: the service is ACTIVE, its desired count equals the matching instances
/// (PerInstance), every desired task runs, and the primary deployment is COMPLETED.
pub fn readiness(
    mode: Scheduling,
    status: &DaemonServiceStatus,
    service: Option<(bool, usize)>,
) -> Readiness {
    let not_ready = |reason: &str, message: String| Readiness {
        ready: false,
        stalled: false,
        reason: reason.to_string(),
        message,
    };
    let Some((active, deployments)) = service else {
        return not_ready("ServiceMissing", "the ECS service does not exist".into());
    };
    if !active {
        return not_ready("ServiceInactive", "the ECS service is not ACTIVE".into());
    }
    let desired_count = status.desired_count.unwrap_or(0);
    let running = status.running_count.unwrap_or(0);
    if mode == Scheduling::PerInstance && Some(desired_count) != status.matching_instances {
        return not_ready(
            "Scaling",
            format!(
                "desiredCount {desired_count} does not yet follow the {} matching instances",
                status.matching_instances.unwrap_or(0)
            ),
        );
    }
    if running != desired_count {
        return not_ready(
            "TasksStarting",
            format!("{running} of {desired_count} tasks running"),
        );
    }
    let completed = match status.rollout_state.as_deref() {
        Some(state) => state == "COMPLETED",
        // Without rollout tracking, a single deployment that runs everything is done.
        None => deployments == 1,
    };
    if status.rollout_state.as_deref() == Some("FAILED") {
        return Readiness {
            ready: false,
            stalled: true,
            reason: "RolloutFailed".to_string(),
            message: "the primary deployment FAILED (ECS's circuit breaker); change the spec to roll out again".to_string(),
        };
    }
    if !completed {
        return not_ready(
            "RollingOut",
            format!(
                "the primary deployment is {}",
                status
                    .rollout_state
                    .as_deref()
                    .unwrap_or("not the only deployment")
            ),
        );
    }
    Readiness {
        ready: true,
        stalled: false,
        reason: "Ready".to_string(),
        message: format!(
            "{running} tasks running, one on each of {desired_count} matching instances"
        ),
    }
}

/// A Managed Daemon's status: ECS keeps one task on every instance of its capacity
/// providers, so the instances it counts are the ones that should run it.
fn daemon_outcome(observed: &Observed, applied: Applied) -> Outcome<DaemonServiceStatus> {
    let daemon = observed.daemon.as_ref();
    let written = !applied.changes.is_empty();
    let instances = daemon.map(|d| d.running + d.without_daemon);
    let status = DaemonServiceStatus {
        scheduling: Some(Scheduling::ManagedDaemon),
        daemon_arn: applied
            .daemon
            .arn
            .clone()
            .or_else(|| daemon.map(|d| d.arn.clone())),
        service_arn: None,
        task_definition_arn: applied
            .daemon
            .task_definition
            .clone()
            .or_else(|| daemon.and_then(|d| d.task_definition.clone())),
        matching_instances: instances,
        desired_count: instances,
        running_count: daemon.map(|d| d.running),
        pending_count: daemon.map(|d| d.without_daemon),
        rollout_state: if written {
            // A create or update starts a deployment; the next observation reads it.
            Some("PENDING".to_string())
        } else {
            daemon.and_then(|d| d.deployment_state.clone())
        },
        redeployed: None,
        common: Default::default(),
    };
    let readiness = daemon_readiness(&status, daemon.map(|d| d.status.as_str()));
    Outcome::new(applied.changes, status, readiness)
}

/// Ready: the daemon is ACTIVE, its latest deployment SUCCESSFUL, and every instance of
/// its capacity providers runs its task.
pub fn daemon_readiness(status: &DaemonServiceStatus, daemon: Option<&str>) -> Readiness {
    let not_ready = |reason: &str, message: String| Readiness {
        ready: false,
        stalled: false,
        reason: reason.to_string(),
        message,
    };
    match daemon {
        None => {
            return not_ready(
                "DaemonMissing",
                "the ECS Managed Daemon does not exist".into(),
            );
        }
        Some("ACTIVE") => {}
        Some(other) => {
            return not_ready("DaemonInactive", format!("the Managed Daemon is {other}"));
        }
    }
    let state = status.rollout_state.as_deref().unwrap_or("unknown");
    match state {
        "SUCCESSFUL" => {}
        "ROLLBACK_SUCCESSFUL" | "ROLLBACK_FAILED" | "STOPPED" => {
            return Readiness {
                ready: false,
                stalled: true,
                reason: "RolloutFailed".to_string(),
                message: format!(
                    "the daemon's latest deployment is {state}; change the spec to roll out again"
                ),
            };
        }
        _ => return not_ready("RollingOut", format!("the daemon's deployment is {state}")),
    }
    let running = status.running_count.unwrap_or(0);
    let without = status.pending_count.unwrap_or(0);
    if without > 0 {
        return not_ready(
            "TasksStarting",
            format!("{without} instances run without the daemon task"),
        );
    }
    Readiness {
        ready: true,
        stalled: false,
        reason: "Ready".to_string(),
        message: format!("{running} daemon tasks running, one on each instance"),
    }
}
