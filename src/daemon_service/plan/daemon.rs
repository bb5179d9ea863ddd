//! Plan, for a Managed Daemon: ECS places one daemon task on every instance of the
//! daemon's capacity providers, starts it before other tasks, and rolls a new daemon task
//! definition out by draining and replacing instances; cluster scaling ignores daemon
//! tasks. The spec's task definition is checked as a daemon task definition here (ECS's
//! model of RegisterDaemonTaskDefinition): what it cannot hold is refused with its path
//! before any write.

use super::{Change, TaskDefinitionRef};
use crate::common::Claim;
use crate::daemon_service::desired::{Desired, DesiredTaskDefinition};
use crate::daemon_service::ecs::short_arn;
use crate::daemon_service::observe::Observed;
use crate::daemon_service::task_definition::{NOT_A_DAEMON_MEMBER, REGISTER_DAEMON};
use crate::runtime::PlannedChange;
use crate::{Error, Result};

/// A change to a Managed Daemon, in plan order.
#[derive(Clone, Debug, PartialEq)]
pub enum DaemonChange {
    RegisterDefinition {
        family: String,
        digest: String,
        replaces: Option<String>,
    },
    Create {
        cluster_arn: String,
        task_definition: TaskDefinitionRef,
        capacity_providers: Vec<String>,
    },
    /// Put the ownership tags on an existing daemon (`adoptExisting`).
    Adopt { arn: String },
    /// `UpdateDaemon` takes the whole configuration: the definition and providers to
    /// run, with which of them differ from the live daemon's.
    Update {
        arn: String,
        task_definition: TaskDefinitionRef,
        capacity_providers: Vec<String>,
        /// The live definition, when the definition differs.
        replaces: Option<Option<String>>,
        providers_differ: bool,
        /// Made outside ecsfleet, not by a spec change.
        drift: bool,
    },
}

impl DaemonChange {
    pub fn is_drift_repair(&self) -> bool {
        matches!(self, DaemonChange::Update { drift: true, .. })
    }

    pub fn describe(&self) -> PlannedChange {
        let (action, target, detail) = match self {
            DaemonChange::RegisterDefinition {
                family, replaces, ..
            } => (
                "RegisterDaemonTaskDefinition",
                format!("daemon-task-definition/{family}"),
                match replaces {
                    Some(arn) => format!(
                        "the definition differs from the latest revision {}",
                        short_arn(arn)
                    ),
                    None => "the family has no revision yet".to_string(),
                },
            ),
            DaemonChange::Create {
                task_definition,
                capacity_providers,
                ..
            } => (
                "CreateDaemon",
                "daemon".to_string(),
                format!(
                    "daemon task definition {}, on {} capacity provider(s)",
                    task_definition.describe(),
                    capacity_providers.len()
                ),
            ),
            DaemonChange::Adopt { .. } => (
                "AdoptDaemon",
                "daemon".to_string(),
                "tag the existing daemon as managed by this object (adoptExisting)".to_string(),
            ),
            DaemonChange::Update {
                task_definition,
                replaces,
                providers_differ,
                drift,
                ..
            } => {
                let mut parts = Vec::new();
                if let Some(from) = replaces {
                    parts.push(format!(
                        "daemonTaskDefinition {} -> {}",
                        from.as_deref().map(short_arn).unwrap_or("none"),
                        task_definition.describe()
                    ));
                }
                if *providers_differ {
                    parts.push("capacityProviders".to_string());
                }
                if *drift {
                    parts.push("(repairs drift)".to_string());
                }
                ("UpdateDaemon", "daemon".to_string(), parts.join(", "))
            }
        };
        PlannedChange {
            action: action.to_string(),
            target,
            detail,
        }
    }
}

/// The changes that bring the Managed Daemon to `desired`. Pure.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<Change>> {
    let capacity = observed
        .capacity
        .as_ref()
        .ok_or_else(|| Error::NotReady("the cluster's capacity providers are unknown".into()))?;
    let providers = capacity.daemon_providers(desired)?;
    let mut changes = Vec::new();
    let live = observed.daemon.as_ref();
    if let Some(daemon) = live {
        if daemon.status != "ACTIVE" {
            return Err(Error::NotReady(format!(
                "the Managed Daemon {} is {}; it can be created again once it is gone",
                desired.service_name, daemon.status
            )));
        }
        if let Some(tags) = &daemon.tags {
            let claim = desired.owner.claim(
                &format!("ECS daemon {}/{}", desired.cluster, desired.service_name),
                tags,
                desired.adopt_existing,
            )?;
            if claim == Claim::Adopt {
                changes.push(Change::Daemon(DaemonChange::Adopt {
                    arn: daemon.arn.clone(),
                }));
            }
        }
    }
    let task_definition = match &desired.task_definition {
        DesiredTaskDefinition::Reference(arn) => TaskDefinitionRef::Existing(arn.clone()),
        DesiredTaskDefinition::Inline(rendered) => {
            // Refuse what a daemon task definition cannot hold before any write.
            rendered.check(REGISTER_DAEMON, NOT_A_DAEMON_MEMBER)?;
            match &observed.task_definition {
                Some(latest) if latest.digest.as_deref() == Some(rendered.digest.as_str()) => {
                    TaskDefinitionRef::Existing(latest.arn.clone())
                }
                latest => {
                    changes.push(Change::Daemon(DaemonChange::RegisterDefinition {
                        family: rendered.family.clone(),
                        digest: rendered.digest.clone(),
                        replaces: latest.as_ref().map(|l| l.arn.clone()),
                    }));
                    TaskDefinitionRef::Registered
                }
            }
        }
    };
    let Some(daemon) = live else {
        changes.push(Change::Daemon(DaemonChange::Create {
            cluster_arn: capacity.cluster_arn.clone(),
            task_definition,
            capacity_providers: providers,
        }));
        return Ok(changes);
    };
    let current = daemon.task_definition.as_deref().map(short_arn);
    let definition_differs = match &task_definition {
        TaskDefinitionRef::Registered => true,
        TaskDefinitionRef::Existing(arn) => current != Some(short_arn(arn)),
    };
    let providers_differ = daemon.capacity_providers != providers;
    if definition_differs || providers_differ {
        // We set the definition last time; if the daemon runs another, someone else did.
        let drift = desired.previous.spec_unchanged
            && desired
                .previous
                .task_definition_arn
                .as_deref()
                .is_some_and(|last| Some(short_arn(last)) != current || providers_differ);
        changes.push(Change::Daemon(DaemonChange::Update {
            arn: daemon.arn.clone(),
            task_definition,
            capacity_providers: providers,
            replaces: definition_differs.then(|| daemon.task_definition.clone()),
            providers_differ,
            drift,
        }));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests;
