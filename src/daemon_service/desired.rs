//! The desired state: the spec validated and resolved, with every refusal naming its
//! field. Pure; runs before any AWS call.

use std::collections::BTreeMap;

use super::ecs::{DeploymentGuards, ObservedTaskDefinition, Reach, ServiceOptions, short_arn};
use super::filter::{self, Expr};
use super::task_definition::{self, RenderedTaskDefinition};
use super::{
    CapacityProviderStrategyItem, DaemonService, DaemonServiceSpec, DeploymentSpec, IpcMode,
    LaunchType, NetworkConfiguration, NetworkMode, PidMode, Scheduling, TagSource,
};
use kube::ResourceExt;

use crate::common::Owner;
use crate::runtime::conditions::SYNCED;
use crate::tenancy::{Grant, HostAccess, cluster_name};
use crate::{Error, Result};

/// The spec, validated and resolved: what AWS should look like.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub owner: Owner,
    pub cluster: String,
    pub service_name: String,
    /// `spec.scheduling`; `None` lets the cluster decide (see `capacity::default_mode`).
    pub scheduling: Option<Scheduling>,
    /// The filter as written (for the `memberOf` constraint) and parsed (for counting).
    pub instance_filter: Option<(String, Expr)>,
    pub task_definition: DesiredTaskDefinition,
    pub launch_type: Option<LaunchType>,
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    pub network_configuration: Option<NetworkConfiguration>,
    /// `spec.tags` plus the ownership tags.
    pub tags: BTreeMap<String, String>,
    pub deployment: DeploymentSpec,
    /// Load balancers, ECS Exec, managed tags, tag propagation (services only).
    pub options: ServiceOptions,
    /// The fields set that only some modes take, checked once the mode is known.
    pub mode_fields: ModeFields,
    /// The `ecsfleet.dev/redeploy` annotation: a value not yet answered forces one new
    /// deployment of the same revision (a moving image tag is pulled again).
    pub redeploy: Option<String>,
    pub adopt_existing: bool,
    /// What the last successful sync left, to tell drift from following the spec.
    pub previous: Previous,
    /// What the namespace may reach, when the spec names an existing revision: its roles
    /// and host access are only known once it is described (`plan` checks them).
    pub reference_grant: Option<Grant>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum DesiredTaskDefinition {
    Reference(String),
    Inline(Box<RenderedTaskDefinition>),
}

/// What the status says the last sync set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Previous {
    /// The mode the last sync used.
    pub scheduling: Option<Scheduling>,
    /// The Managed Daemon the last sync created or found.
    pub daemon_arn: Option<String>,
    pub desired_count: Option<i32>,
    pub task_definition_arn: Option<String>,
    /// The spec has not changed since the last sync (`observedGeneration == generation`).
    pub spec_unchanged: bool,
    /// The last sync of this very generation succeeded (`Synced` is True for it): the
    /// service or daemon then ran `task_definition_arn`, a revision of this spec.
    pub synced: bool,
    /// The redeploy annotation value the last forced deployment answered.
    pub redeployed: Option<String>,
}

impl Desired {
    /// Validates the spec. Everything the CRD schema and CEL rules check is checked again
    /// here, because the CLI reads files that no API server has seen.
    pub fn from_spec(obj: &DaemonService) -> Result<Desired> {
        let spec = &obj.spec;
        if spec.cluster.trim().is_empty() {
            return Err(Error::invalid("spec.cluster", "is required"));
        }
        let service_name = obj.service_name();
        if service_name.is_empty()
            || service_name.len() > 255
            || !service_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::invalid(
                "spec.serviceName",
                format!(
                    "{service_name:?} is not a valid ECS service name (letters, digits, hyphens, underscores; up to 255)"
                ),
            ));
        }
        let definition = &spec.task_definition;
        let task_definition = match (&definition.arn, &definition.family) {
            (Some(arn), None) => {
                // Every member but `arn` belongs to an inline definition.
                let inline = serde_json::to_value(definition)
                    .ok()
                    .and_then(|v| v.as_object().map(|m| m.keys().any(|k| k != "arn")))
                    .unwrap_or(false);
                if inline {
                    return Err(Error::invalid(
                        "spec.taskDefinition",
                        "arn cannot be combined with inline task definition fields (containerDefinitions, cpu, memory, roles, volumes, modes)",
                    ));
                }
                DesiredTaskDefinition::Reference(arn.clone())
            }
            (None, Some(_)) => {
                let operation = match spec.scheduling {
                    Some(Scheduling::ManagedDaemon) => task_definition::REGISTER_DAEMON,
                    _ => task_definition::REGISTER,
                };
                DesiredTaskDefinition::Inline(Box::new(task_definition::render(
                    definition, operation,
                )?))
            }
            _ => {
                return Err(Error::invalid(
                    "spec.taskDefinition",
                    "set exactly one of arn and family (with containerDefinitions)",
                ));
            }
        };
        let instance_filter = match &spec.instance_filter {
            Some(text) => Some((
                text.clone(),
                filter::parse(text)
                    .map_err(|e| Error::invalid("spec.instanceFilter", e.to_string()))?,
            )),
            None => None,
        };
        let capacity_provider_strategy =
            spec.capacity_provider_strategy.clone().unwrap_or_default();
        if spec.launch_type.is_some() && !capacity_provider_strategy.is_empty() {
            return Err(Error::invalid(
                "spec.capacityProviderStrategy",
                "cannot be combined with spec.launchType",
            ));
        }
        if spec.scheduling == Some(Scheduling::Daemon)
            && (!capacity_provider_strategy.is_empty()
                || spec.launch_type.is_some_and(|l| l != LaunchType::Ec2))
        {
            return Err(Error::invalid(
                "spec.scheduling",
                "Daemon works only with the EC2 launch type and no capacityProviderStrategy; use PerInstance",
            ));
        }
        if spec.scheduling == Some(Scheduling::ManagedDaemon) {
            let not_applicable = [
                ("spec.launchType", spec.launch_type.is_some()),
                ("spec.instanceFilter", spec.instance_filter.is_some()),
                (
                    "spec.networkConfiguration",
                    spec.network_configuration.is_some(),
                ),
            ];
            if let Some((field, _)) = not_applicable.iter().find(|(_, set)| *set) {
                return Err(Error::invalid(
                    *field,
                    "does not apply to scheduling ManagedDaemon: a Managed Daemon runs on every instance of its capacity providers",
                ));
            }
        }
        let deployment = spec.deployment.clone();
        if !(0..=100).contains(&deployment.minimum_healthy_percent)
            || !(100..=200).contains(&deployment.maximum_percent)
        {
            return Err(Error::invalid(
                "spec.deployment",
                "minimumHealthyPercent must be 0–100 and maximumPercent 100–200",
            ));
        }
        let options = service_options(spec)?;
        if let Some(alarms) = &deployment.alarms
            && (alarms.alarm_names.is_empty() || alarms.alarm_names.iter().any(String::is_empty))
        {
            return Err(Error::invalid(
                "spec.deployment.alarms.alarmNames",
                "name at least one alarm, none empty",
            ));
        }
        let mode_fields = mode_fields(spec);
        if let Some(mode) = spec.scheduling {
            mode_fields.check(mode)?;
        }
        let owner = obj.owner();
        let mut tags = spec.tags.clone();
        if tags.keys().any(|k| k.starts_with("ecsfleet.dev/")) {
            return Err(Error::invalid(
                "spec.tags",
                "keys under ecsfleet.dev/ are reserved",
            ));
        }
        tags.extend(owner.tags());
        let status = obj.status.as_ref();
        let previous = Previous {
            scheduling: status.and_then(|s| s.scheduling),
            daemon_arn: status.and_then(|s| s.daemon_arn.clone()),
            desired_count: status.and_then(|s| s.desired_count),
            task_definition_arn: status.and_then(|s| s.task_definition_arn.clone()),
            spec_unchanged: status
                .and_then(|s| s.common.observed_generation)
                .is_some_and(|g| Some(g) == obj.metadata.generation),
            synced: status.is_some_and(|s| {
                s.common.conditions.iter().any(|c| {
                    c.type_ == SYNCED
                        && c.status == "True"
                        && c.observed_generation.is_some()
                        && c.observed_generation == obj.metadata.generation
                })
            }),
            redeployed: status.and_then(|s| s.redeployed.clone()),
        };
        Ok(Desired {
            owner,
            cluster: spec.cluster.clone(),
            service_name,
            scheduling: spec.scheduling,
            instance_filter,
            task_definition,
            launch_type: spec.launch_type,
            capacity_provider_strategy,
            network_configuration: spec.network_configuration.clone(),
            tags,
            deployment,
            options,
            mode_fields,
            redeploy: obj.annotations().get(REDEPLOY).cloned(),
            adopt_existing: spec.common.adopt_existing,
            previous,
            reference_grant: None,
        })
    }

    /// Whether a forced deployment answers a redeploy annotation value not yet answered.
    pub fn redeploy_due(&self) -> bool {
        self.redeploy.is_some() && self.redeploy != self.previous.redeployed
    }

    /// The deployment guards as ECS reports them, to compare.
    pub fn deployment_guards(&self) -> DeploymentGuards {
        DeploymentGuards {
            circuit_breaker: self
                .deployment
                .deployment_circuit_breaker
                .as_ref()
                .map_or((false, false), |b| (b.enable, b.enable && b.rollback)),
            alarms: self
                .deployment
                .alarms
                .as_ref()
                .filter(|a| a.enable)
                .map(|a| {
                    let mut names = a.alarm_names.clone();
                    names.sort();
                    (names, a.rollback)
                }),
        }
    }

    /// What the revision `running` (the one the live service or daemon runs) is, when
    /// that is known without reading the family — revisions never change: the revision
    /// the spec names, or for an inline definition the one the last successful sync of
    /// this generation left running (it carried the spec's digest then, and still does).
    /// A new spec, a failed sync or a revision pointed at by hand leave it unknown, and
    /// the family's latest revision is read as before. This keeps a steady resync from
    /// reading every family again (one `DescribeTaskDefinition` per object).
    pub fn known_revision(&self, running: &str) -> Option<ObservedTaskDefinition> {
        let left = self.previous.task_definition_arn.as_deref().map(short_arn);
        let digest = match &self.task_definition {
            DesiredTaskDefinition::Reference(arn) if short_arn(arn) == short_arn(running) => None,
            DesiredTaskDefinition::Inline(rendered)
                if self.previous.synced && left == Some(short_arn(running)) =>
            {
                Some(rendered.digest.clone())
            }
            _ => return None,
        };
        Some(ObservedTaskDefinition {
            arn: running.to_string(),
            digest,
            ..Default::default()
        })
    }

    /// The placement constraints the service should have under `mode`, as (type,
    /// expression).
    pub fn placement_constraints(&self, mode: Scheduling) -> Vec<(String, Option<String>)> {
        let mut constraints = Vec::new();
        if mode == Scheduling::PerInstance {
            constraints.push(("distinctInstance".to_string(), None));
        }
        if let Some((text, _)) = &self.instance_filter {
            constraints.push(("memberOf".to_string(), Some(text.clone())));
        }
        constraints
    }
}

/// What the namespace's [`Grant`] allows of an existing revision the spec names
/// (`taskDefinition.arn`): the same rules as for an inline definition, on what ECS says
/// the revision holds.
/// An annotation on a DaemonService: a new value forces one new deployment of the same
/// revision (e.g. to pull a moving image tag such as `agent:7` again).
pub const REDEPLOY: &str = "ecsfleet.dev/redeploy";

/// The service options, checked: one load balancer kind per entry, a container the
/// inline definition has, a grace period only with load balancers.
fn service_options(spec: &DaemonServiceSpec) -> Result<ServiceOptions> {
    let inline: Option<Vec<String>> =
        spec.task_definition
            .container_definitions
            .as_ref()
            .map(|c| {
                c.values()
                    .iter()
                    .filter_map(|c| {
                        c.get("name")
                            .and_then(serde_json::Value::as_str)
                            .map(str::to_string)
                    })
                    .collect()
            });
    let mut load_balancers = Vec::new();
    for (index, lb) in spec.load_balancers.iter().enumerate() {
        let at = format!("spec.loadBalancers[{index}]");
        if lb.target_group_arn.is_some() == lb.load_balancer_name.is_some() {
            return Err(Error::invalid(
                at,
                "set exactly one of targetGroupArn and loadBalancerName",
            ));
        }
        if !(0..=65535).contains(&lb.container_port) {
            return Err(Error::invalid(
                format!("{at}.containerPort"),
                "must be 0–65535",
            ));
        }
        if let Some(names) = &inline
            && !names.contains(&lb.container_name)
        {
            return Err(Error::invalid(
                format!("{at}.containerName"),
                format!(
                    "{:?} is no container of spec.taskDefinition",
                    lb.container_name
                ),
            ));
        }
        load_balancers.push((
            lb.target_group_arn.clone(),
            lb.load_balancer_name.clone(),
            lb.container_name.clone(),
            lb.container_port,
        ));
    }
    load_balancers.sort();
    if spec.health_check_grace_period_seconds.is_some() && load_balancers.is_empty() {
        return Err(Error::invalid(
            "spec.healthCheckGracePeriodSeconds",
            "applies only with spec.loadBalancers",
        ));
    }
    Ok(ServiceOptions {
        load_balancers,
        health_check_grace_period_seconds: spec.health_check_grace_period_seconds,
        enable_execute_command: spec.enable_execute_command,
        enable_ecs_managed_tags: spec.enable_ecs_managed_tags,
        propagate_tags: spec
            .propagate_tags
            .unwrap_or(TagSource::Service)
            .as_str()
            .to_string(),
    })
}

/// The fields set that only some modes take, each with the modes that take it: a
/// service's load balancers and tag propagation (not a Managed Daemon's; ECS Exec and
/// managed tags are every mode's), the circuit breaker (PerInstance's),
/// deployment alarms (PerInstance's and a Managed Daemon's, which cannot roll back on
/// them), drain percentage and bake time (a Managed Daemon's).
fn mode_fields(spec: &DaemonServiceSpec) -> ModeFields {
    use Scheduling::{Daemon, ManagedDaemon, PerInstance};
    const SERVICES: &[Scheduling] = &[PerInstance, Daemon];
    let deployment = &spec.deployment;
    let alarms = deployment.alarms.as_ref();
    let fields: [(&'static str, bool, &'static [Scheduling]); 8] = [
        (
            "spec.loadBalancers",
            !spec.load_balancers.is_empty(),
            SERVICES,
        ),
        (
            "spec.healthCheckGracePeriodSeconds",
            spec.health_check_grace_period_seconds.is_some(),
            SERVICES,
        ),
        (
            "spec.propagateTags",
            spec.propagate_tags.is_some(),
            SERVICES,
        ),
        (
            "spec.deployment.deploymentCircuitBreaker",
            deployment.deployment_circuit_breaker.is_some(),
            &[PerInstance],
        ),
        (
            "spec.deployment.alarms",
            alarms.is_some(),
            &[PerInstance, ManagedDaemon],
        ),
        (
            "spec.deployment.alarms.rollback",
            alarms.is_some_and(|a| a.rollback),
            &[PerInstance],
        ),
        (
            "spec.deployment.drainPercent",
            deployment.drain_percent.is_some(),
            &[ManagedDaemon],
        ),
        (
            "spec.deployment.bakeTimeInMinutes",
            deployment.bake_time_in_minutes.is_some(),
            &[ManagedDaemon],
        ),
    ];
    ModeFields(
        fields
            .into_iter()
            .filter(|(_, set, _)| *set)
            .map(|(field, _, modes)| (field, modes))
            .collect(),
    )
}

/// See [`mode_fields`]: the fields set, each with the modes that take it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ModeFields(Vec<(&'static str, &'static [Scheduling])>);

impl ModeFields {
    /// What `mode` cannot take, refused with its field.
    pub fn check(&self, mode: Scheduling) -> Result<()> {
        match self.0.iter().find(|(_, modes)| !modes.contains(&mode)) {
            Some((field, _)) => Err(Error::invalid(
                *field,
                format!("does not apply to scheduling {}", mode.as_str()),
            )),
            None => Ok(()),
        }
    }
}

pub fn check_reference(reach: &Reach, grant: &Grant) -> Result<()> {
    let ecs = &grant.grants.ecs;
    const FIELD: &str = "spec.taskDefinition.arn";
    if let Some(arn) = &reach.task_role_arn {
        grant.require_match(&ecs.task_role_arns, arn, FIELD, "ecs.taskRoleArns")?;
    }
    if let Some(arn) = &reach.execution_role_arn {
        grant.require_match(
            &ecs.execution_role_arns,
            arn,
            FIELD,
            "ecs.executionRoleArns",
        )?;
    }
    if let Some(what) = reach.host {
        let privileged = ecs.host_access == HostAccess::Privileged;
        grant.require(privileged, FIELD, &format!("ecs.hostAccess, for {what}"))?;
    }
    Ok(())
}

/// What the namespace's [`Grant`] allows of the daemon: the cluster, the task and
/// execution roles and, below `Privileged` host access, nothing of the host (the same
/// rules as at admission).
pub fn check_grant(obj: &DaemonService, grant: &Grant) -> Result<()> {
    let ecs = &grant.grants.ecs;
    grant.require_match(
        &ecs.clusters,
        cluster_name(&obj.spec.cluster),
        "spec.cluster",
        "ecs.clusters",
    )?;
    let definition = &obj.spec.task_definition;
    const FIELD: &str = "spec.taskDefinition";
    if let Some(arn) = &definition.task_role_arn {
        let field = format!("{FIELD}.taskRoleArn");
        grant.require_match(&ecs.task_role_arns, arn, field, "ecs.taskRoleArns")?;
    }
    if let Some(arn) = &definition.execution_role_arn {
        let field = format!("{FIELD}.executionRoleArn");
        grant.require_match(
            &ecs.execution_role_arns,
            arn,
            field,
            "ecs.executionRoleArns",
        )?;
    }
    for (index, lb) in obj.spec.load_balancers.iter().enumerate() {
        let target = lb
            .target_group_arn
            .as_deref()
            .or(lb.load_balancer_name.as_deref())
            .unwrap_or_default();
        grant.require_match(
            &ecs.load_balancers,
            target,
            format!("spec.loadBalancers[{index}]"),
            "ecs.loadBalancers",
        )?;
    }
    if ecs.host_access == HostAccess::Privileged {
        return Ok(());
    }
    let host = "ecs.hostAccess";
    let on_host = [
        (
            "networkMode",
            definition.network_mode == Some(NetworkMode::Host),
        ),
        ("pidMode", definition.pid_mode == Some(PidMode::Host)),
        ("ipcMode", definition.ipc_mode == Some(IpcMode::Host)),
    ];
    for (name, uses_host) in on_host {
        grant.require(!uses_host, format!("{FIELD}.{name}"), host)?;
    }
    let volumes = definition
        .volumes
        .as_ref()
        .map(|v| v.values())
        .unwrap_or_default();
    let non_empty = |value: &serde_json::Value, pointer: &str| {
        value.pointer(pointer).is_some_and(|v| match v {
            serde_json::Value::Array(items) => !items.is_empty(),
            serde_json::Value::Object(map) => !map.is_empty(),
            other => !other.is_null(),
        })
    };
    for (index, volume) in volumes.iter().enumerate() {
        // A host path, or a Docker volume whose driver options (`o: bind`, `device`)
        // mount one.
        for (pointer, field) in [
            ("/host/sourcePath", "host.sourcePath"),
            (
                "/dockerVolumeConfiguration/driverOpts",
                "dockerVolumeConfiguration.driverOpts",
            ),
        ] {
            let on_host = non_empty(volume, pointer);
            grant.require(!on_host, format!("{FIELD}.volumes[{index}].{field}"), host)?;
        }
    }
    let containers = definition
        .container_definitions
        .as_ref()
        .map(|c| c.values())
        .unwrap_or_default();
    for (index, container) in containers.iter().enumerate() {
        let at = format!("{FIELD}.containerDefinitions[{index}]");
        let privileged = container.get("privileged") == Some(&serde_json::Value::Bool(true));
        grant.require(!privileged, format!("{at}.privileged"), host)?;
        // `seccomp:unconfined`, `apparmor:unconfined` and the like loosen the host's hold.
        let loosened = non_empty(container, "/dockerSecurityOptions");
        grant.require(!loosened, format!("{at}.dockerSecurityOptions"), host)?;
        let added = non_empty(container, "/linuxParameters/capabilities/add")
            || non_empty(container, "/linuxParameters/devices");
        grant.require(!added, format!("{at}.linuxParameters"), host)?;
    }
    Ok(())
}
