//! Plan, for a Managed Daemon: ECS places one daemon task on every instance of the
//! daemon's capacity providers, starts it before other tasks, and rolls a new daemon task
//! definition out by draining and replacing instances; cluster scaling ignores daemon
//! tasks. The spec's task definition is turned into a daemon task definition here, once:
//! what it cannot hold is refused with its path before any write, and the result travels
//! in the plan to apply.

use aws_sdk_ecs::types::{
    ContainerDefinition, DaemonContainerDefinition, DaemonLinuxParameters, DaemonVolume,
};

use super::{Change, TaskDefinitionRef};
use crate::common::Claim;
use crate::daemon_service::desired::{Desired, DesiredTaskDefinition};
use crate::daemon_service::ecs::short_arn;
use crate::daemon_service::observe::Observed;
use crate::daemon_service::task_definition::RenderedTaskDefinition;
use crate::runtime::PlannedChange;
use crate::{Error, Result};

const FIELD: &str = "spec.taskDefinition";

/// A change to a Managed Daemon, in plan order.
#[derive(Clone, Debug, PartialEq)]
pub enum DaemonChange {
    RegisterDefinition {
        family: String,
        digest: String,
        replaces: Option<String>,
        /// The spec's task definition as a daemon task definition.
        definition: DaemonDefinition,
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
            let definition = daemon_definition(rendered)?;
            match &observed.task_definition {
                Some(latest) if latest.digest.as_deref() == Some(rendered.digest.as_str()) => {
                    TaskDefinitionRef::Existing(latest.arn.clone())
                }
                latest => {
                    changes.push(Change::Daemon(DaemonChange::RegisterDefinition {
                        family: rendered.family.clone(),
                        digest: rendered.digest.clone(),
                        replaces: latest.as_ref().map(|l| l.arn.clone()),
                        definition,
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

/// A rendered task definition as a daemon task definition: the containers, volumes and
/// modes it can hold. Anything else is refused with its field's path.
#[derive(Clone, Debug, PartialEq)]
pub struct DaemonDefinition {
    pub containers: Vec<DaemonContainerDefinition>,
    pub volumes: Vec<DaemonVolume>,
}

pub fn daemon_definition(rendered: &RenderedTaskDefinition) -> Result<DaemonDefinition> {
    let refuse = |path: String, what: &str| {
        Error::invalid(
            path,
            format!(
                "{what} is not supported in a daemon task definition (scheduling ManagedDaemon)"
            ),
        )
    };
    if rendered.network_mode.is_some() {
        return Err(refuse(format!("{FIELD}.networkMode"), "networkMode"));
    }
    if !rendered.requires_compatibilities.is_empty() {
        return Err(refuse(
            format!("{FIELD}.requiresCompatibilities"),
            "requiresCompatibilities",
        ));
    }
    let mut containers = Vec::new();
    for (index, container) in rendered.container_definitions.iter().enumerate() {
        let path = format!("{FIELD}.containerDefinitions[{index}]");
        containers.push(daemon_container(container, &path, &refuse)?);
    }
    let mut volumes = Vec::new();
    for (index, volume) in rendered.volumes.iter().enumerate() {
        if volume.docker_volume_configuration().is_some()
            || volume.efs_volume_configuration().is_some()
            || volume
                .fsx_windows_file_server_volume_configuration()
                .is_some()
            || volume.configured_at_launch().is_some()
        {
            return Err(refuse(
                format!("{FIELD}.volumes[{index}]"),
                "a volume other than a host path",
            ));
        }
        volumes.push(
            DaemonVolume::builder()
                .set_name(volume.name().map(str::to_string))
                .set_host(volume.host().cloned())
                .build(),
        );
    }
    Ok(DaemonDefinition {
        containers,
        volumes,
    })
}

fn daemon_container(
    c: &ContainerDefinition,
    path: &str,
    refuse: &dyn Fn(String, &str) -> Error,
) -> Result<DaemonContainerDefinition> {
    let unsupported = [
        ("portMappings", !c.port_mappings().is_empty()),
        ("links", !c.links().is_empty()),
        ("hostname", c.hostname().is_some()),
        ("dockerLabels", c.docker_labels().is_some()),
        ("dnsServers", !c.dns_servers().is_empty()),
        ("dnsSearchDomains", !c.dns_search_domains().is_empty()),
        ("disableNetworking", c.disable_networking().is_some()),
        (
            "dockerSecurityOptions",
            !c.docker_security_options().is_empty(),
        ),
        ("volumesFrom", !c.volumes_from().is_empty()),
        (
            "linuxParameters.sharedMemorySize",
            c.linux_parameters()
                .is_some_and(|l| l.shared_memory_size().is_some()),
        ),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(refuse(format!("{path}.{field}"), field));
    }
    let linux = c.linux_parameters().map(|l| {
        DaemonLinuxParameters::builder()
            .set_capabilities(l.capabilities().cloned())
            .set_init_process_enabled(l.init_process_enabled())
            .set_devices(non_empty(l.devices()))
            .set_tmpfs(non_empty(l.tmpfs()))
            .build()
    });
    DaemonContainerDefinition::builder()
        .set_name(c.name().map(str::to_string))
        .set_image(c.image().map(str::to_string))
        .cpu(c.cpu())
        .set_memory(c.memory())
        .set_memory_reservation(c.memory_reservation())
        .set_repository_credentials(c.repository_credentials().cloned())
        .set_health_check(c.health_check().cloned())
        .set_essential(c.essential())
        .set_entry_point(non_empty(c.entry_point()))
        .set_command(non_empty(c.command()))
        .set_working_directory(c.working_directory().map(str::to_string))
        .set_environment_files(non_empty(c.environment_files()))
        .set_environment(non_empty(c.environment()))
        .set_secrets(non_empty(c.secrets()))
        .set_readonly_root_filesystem(c.readonly_root_filesystem())
        .set_mount_points(non_empty(c.mount_points()))
        .set_log_configuration(c.log_configuration().cloned())
        .set_firelens_configuration(c.firelens_configuration().cloned())
        .set_privileged(c.privileged())
        .set_user(c.user().map(str::to_string))
        .set_ulimits(non_empty(c.ulimits()))
        .set_linux_parameters(linux)
        .set_depends_on(non_empty(c.depends_on()))
        .set_start_timeout(c.start_timeout())
        .set_stop_timeout(c.stop_timeout())
        .set_system_controls(non_empty(c.system_controls()))
        .set_interactive(c.interactive())
        .set_pseudo_terminal(c.pseudo_terminal())
        .build()
        .map_err(|e| Error::invalid(path.to_string(), e.to_string()))
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

#[cfg(test)]
mod tests;
