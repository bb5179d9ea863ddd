//! ManagedDaemon: an ECS Managed Daemon (`CreateDaemon`) on Managed Instances capacity
//! providers, where DAEMON services are not supported. ECS places one daemon task on
//! every instance of the daemon's capacity providers, starts it before other tasks, and
//! rolls a new daemon task definition out by draining and replacing instances; cluster
//! scaling ignores daemon tasks.
//!
//! Observation (per reconcile): `DescribeDaemon` and `DescribeDaemonDeployments`; the
//! daemon's ARN comes from the status (or, once, from `ListDaemons`); the definition
//! behind a daemon revision (`DescribeDaemonRevisions`) never changes and is remembered;
//! the family's latest daemon task definition and its digest tag are cached like task
//! definitions. Writes: `RegisterDaemonTaskDefinition` (only when the digest differs),
//! `CreateDaemon` (with a client token, so a retried create makes one daemon),
//! `UpdateDaemon`, `TagResource` (adoption) and `DeleteDaemon`.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{
    ContainerDefinition, DaemonContainerDefinition, DaemonIpcMode, DaemonLinuxParameters,
    DaemonPidMode, DaemonPropagateTags, DaemonVolume, Tag,
};

use super::DaemonService;
use super::Shared;
use super::apply::{adopt, client_token, ecs_tags, is_gone};
use super::desired::{Desired, DesiredTaskDefinition};
use super::observe::{ClusterKey, Observed, ObservedTaskDefinition, tag_map};
use super::plan::{Change, TaskDefinitionRef, short_arn};
use super::task_definition::{DIGEST_TAG, RenderedTaskDefinition};
use crate::aws::{AccountClients, aws_error, error_code};
use crate::common::Claim;
use crate::runtime::PlannedChange;
use crate::{Error, Result};

/// The live daemon, as plan and status need it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedDaemon {
    pub arn: String,
    /// ACTIVE or DELETE_IN_PROGRESS.
    pub status: String,
    /// The daemon's tags, when it was found by name (not from this object's status).
    pub tags: Option<BTreeMap<String, String>>,
    /// The daemon task definition of the latest deployment's target revision.
    pub task_definition: Option<String>,
    /// The capacity providers of that revision, sorted.
    pub capacity_providers: Vec<String>,
    /// The latest deployment's status: PENDING, IN_PROGRESS, SUCCESSFUL, STOPPED, ...
    pub deployment_state: Option<String>,
    /// Daemon tasks running, over every current revision.
    pub running: i32,
    /// Instances of the daemon's capacity providers that run without its task.
    pub without_daemon: i32,
}

/// A change to a Managed Daemon, in plan order.
#[derive(Clone, Debug, PartialEq)]
pub enum DaemonChange {
    RegisterDefinition {
        family: String,
        digest: String,
        replaces: Option<String>,
    },
    Create {
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
            } => (
                "CreateDaemon",
                "daemon".to_string(),
                format!(
                    "daemon task definition {}, on {} capacity provider(s)",
                    describe_ref(task_definition),
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
                        describe_ref(task_definition)
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

fn describe_ref(reference: &TaskDefinitionRef) -> String {
    match reference {
        TaskDefinitionRef::Registered => "(new revision)".to_string(),
        TaskDefinitionRef::Existing(arn) => short_arn(arn).to_string(),
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
            daemon_definition(rendered)?;
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

/// Observes the daemon and (inline) the family's latest daemon task definition.
pub async fn observe(
    desired: &Desired,
    cluster_arn: &str,
    shared: &Shared,
    clients: &AccountClients,
    key: &ClusterKey,
) -> Result<(Option<ObservedDaemon>, Option<ObservedTaskDefinition>)> {
    let (arn, known) = match &desired.previous.daemon_arn {
        Some(arn) => (Some(arn.clone()), true),
        None => (
            find(clients, cluster_arn, &desired.service_name).await?,
            false,
        ),
    };
    let mut daemon = match arn {
        Some(arn) => describe(clients, shared, &arn).await?,
        None => None,
    };
    if daemon.is_none() && known {
        // Deleted behind our back: look by name once more before creating again.
        if let Some(arn) = find(clients, cluster_arn, &desired.service_name).await? {
            daemon = describe(clients, shared, &arn).await?;
            if let Some(found) = daemon.as_mut() {
                found.tags = Some(tags(clients, &found.arn).await?);
            }
        }
    } else if let Some(found) = daemon.as_mut()
        && !known
    {
        found.tags = Some(tags(clients, &found.arn).await?);
    }
    // The revision the daemon runs, when known to be the spec's: no family to read.
    let known = daemon
        .as_ref()
        .and_then(|d| d.task_definition.as_deref())
        .and_then(|running| desired.known_revision(running));
    let definition = match &desired.task_definition {
        DesiredTaskDefinition::Inline(_) if known.is_some() => known,
        DesiredTaskDefinition::Inline(rendered) => {
            shared
                .clusters
                .daemon_definition(key, &rendered.family, || {
                    latest_definition(clients, &rendered.family)
                })
                .await?
        }
        DesiredTaskDefinition::Reference(_) => None,
    };
    Ok((daemon, definition))
}

/// The ARN of the cluster's daemon named `name`, if any.
async fn find(clients: &AccountClients, cluster_arn: &str, name: &str) -> Result<Option<String>> {
    let mut next_token = None;
    loop {
        let page = clients
            .ecs
            .list_daemons()
            .cluster_arn(cluster_arn)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| aws_error("ECS", "ListDaemons", e))?;
        if let Some(found) = page
            .daemon_summaries_list()
            .iter()
            .filter_map(|d| d.daemon_arn())
            .find(|arn| arn.rsplit('/').next() == Some(name))
        {
            return Ok(Some(found.to_string()));
        }
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            return Ok(None);
        }
    }
}

async fn describe(
    clients: &AccountClients,
    shared: &Shared,
    arn: &str,
) -> Result<Option<ObservedDaemon>> {
    let described = match clients.ecs.describe_daemon().daemon_arn(arn).send().await {
        Ok(described) => described,
        Err(error) if is_gone(&error, "Daemon") => return Ok(None),
        Err(error) => return Err(aws_error("ECS", "DescribeDaemon", error)),
    };
    let Some(detail) = described.daemon() else {
        return Ok(None);
    };
    let mut daemon = ObservedDaemon {
        arn: detail.daemon_arn().unwrap_or(arn).to_string(),
        status: detail
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        running: detail
            .current_revisions()
            .iter()
            .map(|r| r.total_running_count())
            .sum(),
        without_daemon: detail
            .current_revisions()
            .iter()
            .map(|r| r.total_without_daemon_count())
            .sum(),
        ..ObservedDaemon::default()
    };
    if let Some(deployment) = detail.deployment_arn() {
        let deployments = clients
            .ecs
            .describe_daemon_deployments()
            .daemon_deployment_arns(deployment)
            .send()
            .await
            .map_err(|e| aws_error("ECS", "DescribeDaemonDeployments", e))?;
        if let Some(latest) = deployments.daemon_deployments().first() {
            daemon.deployment_state = latest.status().map(|s| s.as_str().to_string());
            if let Some(target) = latest.target_daemon_revision() {
                let mut providers: Vec<String> = target
                    .capacity_providers()
                    .iter()
                    .filter_map(|p| p.arn().map(str::to_string))
                    .collect();
                providers.sort();
                daemon.capacity_providers = providers;
                if let Some(revision) = target.arn() {
                    daemon.task_definition = revision_definition(clients, shared, revision).await?;
                }
            }
        }
    }
    Ok(Some(daemon))
}

/// The daemon task definition of a revision: revisions never change, so each is read
/// once per process.
async fn revision_definition(
    clients: &AccountClients,
    shared: &Shared,
    revision: &str,
) -> Result<Option<String>> {
    if let Some(known) = shared.clusters.daemon_revision(revision) {
        return Ok(Some(known));
    }
    let described = clients
        .ecs
        .describe_daemon_revisions()
        .daemon_revision_arns(revision)
        .send()
        .await
        .map_err(|e| aws_error("ECS", "DescribeDaemonRevisions", e))?;
    let definition = described
        .daemon_revisions()
        .first()
        .and_then(|r| r.daemon_task_definition_arn())
        .map(str::to_string);
    if let Some(definition) = &definition {
        shared
            .clusters
            .remember_daemon_revision(revision, definition.clone());
    }
    Ok(definition)
}

async fn tags(clients: &AccountClients, arn: &str) -> Result<BTreeMap<String, String>> {
    let listed = clients
        .ecs
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("ECS", "ListTagsForResource", e))?;
    Ok(tag_map(listed.tags()))
}

async fn latest_definition(
    clients: &AccountClients,
    family: &str,
) -> Result<Option<ObservedTaskDefinition>> {
    let described = match clients
        .ecs
        .describe_daemon_task_definition()
        .daemon_task_definition(family)
        .send()
        .await
    {
        Ok(described) => described,
        // ECS answers a family it does not know with a ClientException.
        Err(error) if error_code(&error) == Some("ClientException") => return Ok(None),
        Err(error) => return Err(aws_error("ECS", "DescribeDaemonTaskDefinition", error)),
    };
    let Some(arn) = described
        .daemon_task_definition()
        .and_then(|d| d.daemon_task_definition_arn())
    else {
        return Ok(None);
    };
    let digest = tags(clients, arn).await?.remove(DIGEST_TAG);
    Ok(Some(ObservedTaskDefinition {
        arn: arn.to_string(),
        digest,
    }))
}

/// What applying a daemon plan did.
#[derive(Clone, Debug, Default)]
pub struct AppliedDaemon {
    pub arn: Option<String>,
    pub task_definition: Option<String>,
    pub registered: Option<String>,
}

pub async fn apply(
    desired: &Desired,
    change: &DaemonChange,
    applied: &mut AppliedDaemon,
    shared: &Shared,
    clients: &AccountClients,
    key: &ClusterKey,
    cluster_arn: &str,
) -> Result<()> {
    let resolve = |reference: &TaskDefinitionRef, applied: &AppliedDaemon| match reference {
        TaskDefinitionRef::Existing(arn) => Ok(arn.clone()),
        TaskDefinitionRef::Registered => applied.registered.clone().ok_or_else(|| {
            Error::NotReady("the new daemon task definition is not registered".into())
        }),
    };
    match change {
        DaemonChange::RegisterDefinition { family, digest, .. } => {
            let DesiredTaskDefinition::Inline(rendered) = &desired.task_definition else {
                unreachable!("the plan registers only inline definitions");
            };
            let definition = daemon_definition(rendered)?;
            let mut tags = ecs_tags(&desired.tags);
            tags.push(Tag::builder().key(DIGEST_TAG).value(digest).build());
            let registered = clients
                .ecs
                .register_daemon_task_definition()
                .family(family)
                .set_container_definitions(Some(definition.containers))
                .set_volumes(non_empty(&definition.volumes))
                .set_task_role_arn(rendered.task_role_arn.clone())
                .set_execution_role_arn(rendered.execution_role_arn.clone())
                .set_cpu(rendered.cpu.clone())
                .set_memory(rendered.memory.clone())
                .set_pid_mode(rendered.pid_mode.as_deref().map(DaemonPidMode::from))
                .set_ipc_mode(rendered.ipc_mode.as_deref().map(DaemonIpcMode::from))
                .set_tags(Some(tags))
                // Not retried blindly: a lost answer is looked up by digest first.
                .customize()
                .config_override(crate::single_attempt!(aws_sdk_ecs))
                .send()
                .await
                .map_err(|e| match error_code(&e) {
                    Some("InvalidParameterException" | "ClientException") => Error::invalid(
                        FIELD,
                        format!(
                            "ECS refused the daemon task definition: {}",
                            aws_sdk_ecs::error::ProvideErrorMetadata::message(&e)
                                .unwrap_or("no reason given")
                        ),
                    ),
                    _ => aws_error("ECS", "RegisterDaemonTaskDefinition", e),
                })?;
            shared.clusters.forget_daemon_definition(key, family).await;
            applied.registered = registered.daemon_task_definition_arn().map(str::to_string);
        }
        DaemonChange::Create {
            task_definition,
            capacity_providers,
        } => {
            let definition = resolve(task_definition, applied)?;
            let created = clients
                .ecs
                .create_daemon()
                .daemon_name(&desired.service_name)
                .cluster_arn(cluster_arn)
                .daemon_task_definition_arn(&definition)
                .set_capacity_provider_arns(Some(capacity_providers.clone()))
                .set_tags(Some(ecs_tags(&desired.tags)))
                .propagate_tags(DaemonPropagateTags::Daemon)
                .client_token(client_token(&format!(
                    "{}/daemon/{}",
                    desired.owner.uid, desired.service_name
                )))
                .customize()
                .config_override(crate::single_attempt!(aws_sdk_ecs))
                .send()
                .await
                .map_err(|e| match error_code(&e) {
                    Some("InvalidParameterException" | "UnsupportedFeatureException") => {
                        Error::invalid(
                            "spec",
                            format!(
                                "ECS refused to create the daemon: {}",
                                aws_sdk_ecs::error::ProvideErrorMetadata::message(&e)
                                    .unwrap_or("no reason given")
                            ),
                        )
                    }
                    _ => aws_error("ECS", "CreateDaemon", e),
                })?;
            applied.arn = created.daemon_arn().map(str::to_string);
            applied.task_definition = Some(definition);
        }
        DaemonChange::Adopt { arn } => {
            adopt(desired, arn, clients).await?;
            applied.arn = Some(arn.clone());
        }
        DaemonChange::Update {
            arn,
            task_definition,
            capacity_providers,
            ..
        } => {
            let definition = resolve(task_definition, applied)?;
            clients
                .ecs
                .update_daemon()
                .daemon_arn(arn)
                .daemon_task_definition_arn(&definition)
                .set_capacity_provider_arns(Some(capacity_providers.clone()))
                .propagate_tags(DaemonPropagateTags::Daemon)
                .send()
                .await
                .map_err(|e| aws_error("ECS", "UpdateDaemon", e))?;
            applied.arn = Some(arn.clone());
            applied.task_definition = Some(definition);
        }
    }
    Ok(())
}

const FIELD: &str = "spec.taskDefinition";

/// Deletes the object's daemon, if it has one and it is tagged as the object's.
pub async fn delete(obj: &DaemonService, clients: &AccountClients) -> Result<Vec<PlannedChange>> {
    let status = obj.status.as_ref();
    let arn = match status.and_then(|s| s.daemon_arn.clone()) {
        Some(arn) => Some(arn),
        None => {
            let cluster_arn = match clients
                .ecs
                .describe_clusters()
                .clusters(&obj.spec.cluster)
                .send()
                .await
            {
                Ok(described) => described
                    .clusters()
                    .first()
                    .and_then(|c| c.cluster_arn())
                    .map(str::to_string),
                Err(error) => return Err(aws_error("ECS", "DescribeClusters", error)),
            };
            match cluster_arn {
                Some(cluster_arn) => find(clients, &cluster_arn, &obj.service_name()).await?,
                None => None,
            }
        }
    };
    let Some(arn) = arn else {
        return Ok(Vec::new());
    };
    let owned = match clients
        .ecs
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
    {
        Ok(listed) => obj.owner().owns(&tag_map(listed.tags())),
        Err(error)
            if is_gone(&error, "Daemon")
                || error_code(&error) == Some("InvalidParameterException") =>
        {
            return Ok(Vec::new());
        }
        Err(error) => return Err(aws_error("ECS", "ListTagsForResource", error)),
    };
    if !owned {
        return Ok(vec![PlannedChange {
            action: "LeaveDaemon".into(),
            target: "daemon".into(),
            detail: "the daemon is not tagged as this object's; left untouched".into(),
        }]);
    }
    match clients.ecs.delete_daemon().daemon_arn(&arn).send().await {
        Ok(_) => Ok(vec![PlannedChange {
            action: "DeleteDaemon".into(),
            target: "daemon".into(),
            detail: "deleted".into(),
        }]),
        Err(error) if is_gone(&error, "Daemon") => Ok(Vec::new()),
        Err(error) => Err(aws_error("ECS", "DeleteDaemon", error)),
    }
}

#[cfg(test)]
mod tests;
