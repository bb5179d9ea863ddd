//! The plan: a pure function of the validated spec and the observation. No I/O, no
//! clock. An object in sync yields an empty plan.

use std::collections::BTreeSet;

use super::capacity;
use super::desired::{Desired, DesiredTaskDefinition};
use super::ecs::{ObservedService, ServiceOptions, short_arn};
use super::observe::Observed;
use super::{CapacityProviderStrategyItem, NetworkConfiguration, Scheduling};
use crate::common::Claim;
use crate::runtime::{self, PlannedChange};
use crate::{Error, Result};

pub mod daemon;

pub use daemon::DaemonChange;

/// The desired count the service should have; `None` where ECS keeps the count
/// (Daemon, ManagedDaemon).
pub fn desired_count(desired: &Desired, observed: &Observed) -> Option<i32> {
    match observed.mode {
        Scheduling::PerInstance => Some(observed.matching_instances(desired)),
        Scheduling::Daemon | Scheduling::ManagedDaemon => None,
    }
}

/// The task definition a create or update points the service at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    /// The revision registered earlier in the same plan.
    Registered,
    Existing(String),
}

/// One change to make, in plan order.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    RegisterTaskDefinition {
        family: String,
        digest: String,
        /// The latest revision it replaces, if any.
        replaces: Option<String>,
    },
    CreateService {
        scheduling: Scheduling,
        desired_count: Option<i32>,
        task_definition: TaskDefinitionRef,
    },
    /// Put the ownership tags on an existing service (`adoptExisting`).
    AdoptService {
        arn: String,
    },
    UpdateService(ServiceUpdate),
    /// A change to a Managed Daemon (scheduling ManagedDaemon).
    Daemon(DaemonChange),
}

/// The fields of an `UpdateService` call; only those that differ are set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceUpdate {
    pub desired_count: Option<(i32, i32)>,
    pub task_definition: Option<(Option<String>, TaskDefinitionRef)>,
    pub placement_constraints: Option<Vec<(String, Option<String>)>>,
    pub deployment_limits: Option<(i32, i32)>,
    pub capacity_provider_strategy: Option<Vec<CapacityProviderStrategyItem>>,
    pub network_configuration: Option<NetworkConfiguration>,
    /// Load balancers, ECS Exec, managed tags, tag propagation: all set when any differs.
    pub options: Option<ServiceOptions>,
    /// A new deployment of the same revision, answering the redeploy annotation.
    pub force_new_deployment: bool,
    /// The live service has deployment alarms the spec no longer has: turn them off.
    pub disable_alarms: bool,
    /// Which of the differences were made outside ecsfleet (drift), not by a spec change.
    pub drift: Vec<&'static str>,
}

impl ServiceUpdate {
    fn is_empty(&self) -> bool {
        self.desired_count.is_none()
            && self.task_definition.is_none()
            && self.placement_constraints.is_none()
            && self.deployment_limits.is_none()
            && self.capacity_provider_strategy.is_none()
            && self.network_configuration.is_none()
            && self.options.is_none()
            && !self.force_new_deployment
    }
}

impl runtime::Change for Change {
    fn is_drift_repair(&self) -> bool {
        match self {
            Change::UpdateService(update) => !update.drift.is_empty(),
            Change::Daemon(change) => change.is_drift_repair(),
            _ => false,
        }
    }

    fn describe(&self) -> PlannedChange {
        let (action, target, detail) = match self {
            Change::Daemon(change) => return change.describe(),
            Change::RegisterTaskDefinition {
                family, replaces, ..
            } => (
                "RegisterTaskDefinition",
                format!("task-definition/{family}"),
                match replaces {
                    Some(arn) => format!(
                        "the definition differs from the latest revision {}",
                        short_arn(arn)
                    ),
                    None => "the family has no revision yet".to_string(),
                },
            ),
            Change::CreateService {
                desired_count,
                task_definition,
                ..
            } => (
                "CreateService",
                String::new(),
                format!(
                    "{}, task definition {}",
                    match desired_count {
                        Some(count) => format!("desiredCount {count}"),
                        None => "DAEMON scheduling".to_string(),
                    },
                    task_definition.describe()
                ),
            ),
            Change::AdoptService { .. } => (
                "AdoptService",
                String::new(),
                "tag the existing service as managed by this object (adoptExisting)".to_string(),
            ),
            Change::UpdateService(update) => {
                let mut parts = Vec::new();
                if let Some((from, to)) = update.desired_count {
                    parts.push(format!("desiredCount {from} -> {to}"));
                }
                if let Some((from, to)) = &update.task_definition {
                    parts.push(format!(
                        "taskDefinition {} -> {}",
                        from.as_deref().map(short_arn).unwrap_or("none"),
                        to.describe()
                    ));
                }
                if update.placement_constraints.is_some() {
                    parts.push("placementConstraints".to_string());
                }
                if let Some((min, max)) = update.deployment_limits {
                    parts.push(format!("deployment {min}%-{max}%"));
                }
                if update.capacity_provider_strategy.is_some() {
                    parts.push("capacityProviderStrategy".to_string());
                }
                if update.network_configuration.is_some() {
                    parts.push("networkConfiguration".to_string());
                }
                if update.options.is_some() {
                    parts.push(
                        "service options (loadBalancers, enableExecuteCommand, enableECSManagedTags, propagateTags)"
                            .to_string(),
                    );
                }
                if update.force_new_deployment {
                    parts.push("a new deployment (ecsfleet.dev/redeploy)".to_string());
                }
                if !update.drift.is_empty() {
                    parts.push(format!("(repairs drift of {})", update.drift.join(", ")));
                }
                ("UpdateService", String::new(), parts.join(", "))
            }
        };
        PlannedChange {
            action: action.to_string(),
            target: if target.is_empty() {
                "service".to_string()
            } else {
                target
            },
            detail,
        }
    }
}

impl TaskDefinitionRef {
    /// `family:revision`, or "(new revision)" for one this plan registers.
    pub fn describe(&self) -> String {
        match self {
            TaskDefinitionRef::Registered => "(new revision)".to_string(),
            TaskDefinitionRef::Existing(arn) => short_arn(arn).to_string(),
        }
    }
}

/// The changes that bring AWS to `desired`. Refuses (without changes) a service that
/// belongs to someone else, and one that is not ours unless `adoptExisting`.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<Change>> {
    // An unset scheduling may be set later (CEL allows it), but only to the mode in use:
    // ECS cannot turn a service into a daemon or back.
    if let (Some(spec), Some(in_use)) = (desired.scheduling, desired.previous.scheduling)
        && spec != in_use
    {
        return Err(Error::invalid(
            "spec.scheduling",
            format!(
                "the object runs as {} and ECS cannot change that; set {} or leave it unset (or recreate the object)",
                in_use.as_str(),
                in_use.as_str()
            ),
        ));
    }
    // What the mode in use cannot take, when the cluster chose it (an explicit mode was
    // checked when the spec was read).
    desired.mode_fields.check(observed.mode)?;
    if observed.mode == Scheduling::ManagedDaemon {
        return daemon::plan(desired, observed);
    }
    if observed.mode == Scheduling::PerInstance
        && let Some(capacity) = &observed.capacity
    {
        capacity::guard_per_instance(desired, capacity)?;
    }
    let mut changes = Vec::new();

    let live = observed.service.as_ref().filter(|s| s.status != "INACTIVE");
    if let Some(service) = live {
        // Refuse before proposing anything, so that nothing is written, not even a
        // task definition, for a service that is not ours to change.
        let claim = desired.owner.claim(
            &format!("ECS service {}/{}", desired.cluster, desired.service_name),
            &service.tags,
            desired.adopt_existing,
        )?;
        if service.status == "DRAINING" {
            return Err(Error::NotReady(format!(
                "ECS service {} is being deleted; it can be created again once it is INACTIVE",
                desired.service_name
            )));
        }
        let expected = match observed.mode {
            Scheduling::PerInstance => "REPLICA",
            Scheduling::Daemon | Scheduling::ManagedDaemon => "DAEMON",
        };
        if service.scheduling_strategy != expected {
            return Err(Error::invalid(
                "spec.scheduling",
                format!(
                    "the existing service uses {} scheduling and ECS cannot change it; delete the service or set scheduling to match",
                    service.scheduling_strategy
                ),
            ));
        }
        if claim == Claim::Adopt {
            changes.push(Change::AdoptService {
                arn: service.arn.clone(),
            });
        }
    }

    let task_definition = match &desired.task_definition {
        DesiredTaskDefinition::Reference(_) => {
            let resolved = observed.task_definition.as_ref().ok_or_else(|| {
                Error::invalid(
                    "spec.taskDefinition.arn",
                    "the task definition does not exist",
                )
            })?;
            if let Some(grant) = &desired.reference_grant {
                super::desired::check_reference(&resolved.reach, grant)?;
            }
            TaskDefinitionRef::Existing(resolved.arn.clone())
        }
        DesiredTaskDefinition::Inline(rendered) => match &observed.task_definition {
            Some(latest) if latest.digest.as_deref() == Some(rendered.digest.as_str()) => {
                TaskDefinitionRef::Existing(latest.arn.clone())
            }
            latest => {
                changes.push(Change::RegisterTaskDefinition {
                    family: rendered.family.clone(),
                    digest: rendered.digest.clone(),
                    replaces: latest.as_ref().map(|l| l.arn.clone()),
                });
                TaskDefinitionRef::Registered
            }
        },
    };

    let desired_count = desired_count(desired, observed);
    match live {
        None => changes.push(Change::CreateService {
            scheduling: observed.mode,
            desired_count,
            task_definition,
        }),
        Some(service) => {
            let update = service_update(
                desired,
                observed.mode,
                service,
                desired_count,
                task_definition,
            );
            if !update.is_empty() {
                changes.push(Change::UpdateService(update));
            }
        }
    }
    Ok(changes)
}

fn service_update(
    desired: &Desired,
    mode: Scheduling,
    service: &ObservedService,
    desired_count: Option<i32>,
    task_definition: TaskDefinitionRef,
) -> ServiceUpdate {
    let previous = &desired.previous;
    let mut update = ServiceUpdate::default();

    if let Some(count) = desired_count
        && count != service.desired_count
    {
        update.desired_count = Some((service.desired_count, count));
        // We set the count last time; if it moved without us, somebody else moved it.
        if previous
            .desired_count
            .is_some_and(|last| last != service.desired_count)
        {
            update.drift.push("desiredCount");
        }
    }

    let current_definition = service.task_definition.as_deref().map(short_arn);
    let differs = match &task_definition {
        TaskDefinitionRef::Registered => true,
        TaskDefinitionRef::Existing(arn) => current_definition != Some(short_arn(arn)),
    };
    if differs {
        // We set the definition last time; if the service runs another, somebody else
        // pointed it there (whether or not the spec changed since).
        if previous
            .task_definition_arn
            .as_deref()
            .is_some_and(|last| Some(short_arn(last)) != current_definition)
        {
            update.drift.push("taskDefinition");
        }
        update.task_definition = Some((service.task_definition.clone(), task_definition));
    }

    let constraints = desired.placement_constraints(mode);
    if as_set(&constraints) != as_set(&service.placement_constraints) {
        update.placement_constraints = Some(constraints);
        if previous.spec_unchanged {
            update.drift.push("placementConstraints");
        }
    }

    let limits = (
        desired.deployment.minimum_healthy_percent,
        desired.deployment.maximum_percent,
    );
    if service.deployment_limits != Some((Some(limits.0), Some(limits.1)))
        || service.deployment_guards != desired.deployment_guards()
    {
        update.deployment_limits = Some(limits);
        update.disable_alarms =
            desired.deployment.alarms.is_none() && service.deployment_guards.alarms.is_some();
        if previous.spec_unchanged {
            update.drift.push("deploymentConfiguration");
        }
    }

    let mut live_options = service.options.clone();
    if desired.options.health_check_grace_period_seconds.is_none() {
        // Unset leaves ECS's value.
        live_options.health_check_grace_period_seconds = None;
    }
    if live_options != desired.options {
        update.options = Some(desired.options.clone());
        if previous.spec_unchanged {
            update.drift.push("serviceOptions");
        }
    }
    update.force_new_deployment = desired.redeploy_due();

    if !desired.capacity_provider_strategy.is_empty()
        && as_set(&desired.capacity_provider_strategy)
            != as_set(&service.capacity_provider_strategy)
    {
        update.capacity_provider_strategy = Some(desired.capacity_provider_strategy.clone());
        if previous.spec_unchanged {
            update.drift.push("capacityProviderStrategy");
        }
    }

    if let Some(network) = &desired.network_configuration {
        let vpc = &network.awsvpc_configuration;
        let wanted = (
            as_set(&vpc.subnets),
            as_set(&vpc.security_groups),
            vpc.assign_public_ip,
        );
        let live = service
            .network
            .as_ref()
            .map(|(subnets, groups, public)| (as_set(subnets), as_set(groups), *public));
        if live.as_ref() != Some(&wanted) {
            update.network_configuration = Some(network.clone());
            if previous.spec_unchanged {
                update.drift.push("networkConfiguration");
            }
        }
    }
    update
}

fn as_set<T: Ord + Clone>(items: &[T]) -> BTreeSet<T> {
    items.iter().cloned().collect()
}

#[cfg(test)]
mod tests;
