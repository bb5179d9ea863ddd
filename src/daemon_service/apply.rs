//! Apply: executes a plan in order, idempotently (client tokens, describe before create,
//! NotFound on delete counts as done), and deletion.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentAlarms,
    DeploymentCircuitBreaker, DeploymentConfiguration, LaunchType, LoadBalancer,
    NetworkConfiguration, PlacementConstraint, PlacementConstraintType, PropagateTags,
    SchedulingStrategy,
};

use super::cache::Shared;
use super::desired::{Desired, DesiredTaskDefinition};
use super::ecs::{
    ClusterKey, ObservedService, ServiceOptions, adopt, client_token, ecs_tags, is_gone, json_body,
    observed_service,
};
use super::plan::{Change, ServiceUpdate, TaskDefinitionRef};
use super::task_definition::DIGEST_TAG;
use super::{DaemonService, Scheduling};
use crate::aws::{AccountClients, aws_error, error_code};
use crate::runtime::{Change as _, ObjectAws, PlannedChange};
use crate::{Error, Result};

pub mod daemon;

/// What applying a plan did, and the service as the last write returned it.
#[derive(Clone, Debug, Default)]
pub struct Applied {
    pub changes: Vec<PlannedChange>,
    /// The service after the last create or update; `None` if nothing was written.
    pub service: Option<ObservedService>,
    /// The revision registered by this plan, if any.
    pub registered_task_definition: Option<String>,
    /// What the plan did to a Managed Daemon.
    pub daemon: daemon::AppliedDaemon,
}

pub async fn apply(
    desired: &Desired,
    changes: &[Change],
    shared: &Shared,
    aws: &ObjectAws,
) -> Result<Applied> {
    let clients = &aws.clients;
    let key = ClusterKey::new(&clients.region, &aws.target, &desired.cluster);
    let mut applied = Applied::default();
    for change in changes {
        match change {
            Change::RegisterTaskDefinition { family, .. } => {
                let DesiredTaskDefinition::Inline(rendered) = &desired.task_definition else {
                    unreachable!("the plan registers only inline definitions");
                };
                let arn = register_task_definition(desired, rendered, clients).await?;
                shared.clusters.forget_task_definition(&key, family).await;
                applied.registered_task_definition = Some(arn);
            }
            Change::CreateService {
                scheduling,
                desired_count,
                task_definition,
            } => {
                let arn = resolve(task_definition, &applied)?;
                let service =
                    create_service(desired, *scheduling, *desired_count, &arn, clients).await?;
                applied.service = Some(service);
            }
            Change::AdoptService { arn } => adopt(&desired.tags, arn, clients).await?,
            Change::UpdateService(update) => {
                let service = update_service(desired, update, &applied, clients).await?;
                applied.service = Some(service);
            }
            Change::Daemon(daemon) => {
                daemon::apply(desired, daemon, &mut applied.daemon, shared, clients, &key).await?;
            }
        }
        applied.changes.push(change.describe());
        if !matches!(
            change,
            Change::RegisterTaskDefinition { .. } | Change::Daemon(_)
        ) {
            shared.clusters.forget_service(&key, &desired.service_name);
        }
    }
    Ok(applied)
}

fn resolve(reference: &TaskDefinitionRef, applied: &Applied) -> Result<String> {
    match reference {
        TaskDefinitionRef::Existing(arn) => Ok(arn.clone()),
        TaskDefinitionRef::Registered => {
            applied.registered_task_definition.clone().ok_or_else(|| {
                Error::NotReady("the new task definition revision is not registered".into())
            })
        }
    }
}

async fn register_task_definition(
    desired: &Desired,
    rendered: &super::task_definition::RenderedTaskDefinition,
    clients: &AccountClients,
) -> Result<String> {
    let mut tags = desired.tags.clone();
    tags.insert(DIGEST_TAG.to_string(), rendered.digest.clone());
    let response = clients
        .ecs
        .register_task_definition()
        .family(&rendered.family)
        .customize()
        .mutate_request(json_body(rendered.body(&tags)))
        .config_override(crate::single_attempt!(aws_sdk_ecs))
        .send()
        .await
        .map_err(|error| match error_code(&error) {
            // ECS refuses the definition itself: the spec must change, not a retry.
            Some("ClientException" | "InvalidParameterException") => Error::invalid(
                "spec.taskDefinition",
                format!(
                    "ECS refused the task definition: {}",
                    aws_sdk_ecs::error::ProvideErrorMetadata::message(&error)
                        .unwrap_or("no reason given")
                ),
            ),
            _ => aws_error("ECS", "RegisterTaskDefinition", error),
        })?;
    response
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .map(str::to_string)
        .ok_or_else(|| Error::NotReady("RegisterTaskDefinition returned no ARN".into()))
}

fn placement_constraints(constraints: &[(String, Option<String>)]) -> Vec<PlacementConstraint> {
    constraints
        .iter()
        .map(|(kind, expression)| {
            PlacementConstraint::builder()
                .r#type(PlacementConstraintType::from(kind.as_str()))
                .set_expression(expression.clone())
                .build()
        })
        .collect()
}

/// The deployment configuration: limits, circuit breaker and alarms. The breaker is
/// always sent (disabled when the spec has none), so removing it from the spec turns it
/// off; alarms are sent when the spec has them, or disabled when `disable_alarms` (the
/// live service has some the spec dropped).
fn deployment_configuration(
    desired: &Desired,
    disable_alarms: bool,
) -> Result<DeploymentConfiguration> {
    let guards = desired.deployment_guards();
    let (enable, rollback) = guards.circuit_breaker;
    let breaker = DeploymentCircuitBreaker::builder()
        .enable(enable)
        .rollback(rollback)
        .build();
    let alarms = match guards.alarms {
        Some((names, rollback)) => Some((names, rollback, true)),
        None if disable_alarms => Some((Vec::new(), false, false)),
        None => None,
    };
    let alarms = alarms
        .map(|(names, rollback, enable)| {
            DeploymentAlarms::builder()
                .set_alarm_names(Some(names))
                .enable(enable)
                .rollback(rollback)
                .build()
                .map_err(|e| Error::invalid("spec.deployment.alarms", e.to_string()))
        })
        .transpose()?;
    Ok(DeploymentConfiguration::builder()
        .minimum_healthy_percent(desired.deployment.minimum_healthy_percent)
        .maximum_percent(desired.deployment.maximum_percent)
        .deployment_circuit_breaker(breaker)
        .set_alarms(alarms)
        .build())
}

fn load_balancers(options: &ServiceOptions) -> Vec<LoadBalancer> {
    options
        .load_balancers
        .iter()
        .map(|(target_group, name, container, port)| {
            LoadBalancer::builder()
                .set_target_group_arn(target_group.clone())
                .set_load_balancer_name(name.clone())
                .container_name(container)
                .container_port(*port)
                .build()
        })
        .collect()
}

fn capacity_provider_strategy(
    items: &[super::CapacityProviderStrategyItem],
) -> Result<Vec<CapacityProviderStrategyItem>> {
    items
        .iter()
        .map(|item| {
            CapacityProviderStrategyItem::builder()
                .capacity_provider(&item.capacity_provider)
                .weight(item.weight)
                .base(item.base)
                .build()
                .map_err(|e| Error::invalid("spec.capacityProviderStrategy", e.to_string()))
        })
        .collect()
}

fn network_configuration(network: &super::NetworkConfiguration) -> Result<NetworkConfiguration> {
    let vpc = &network.awsvpc_configuration;
    let awsvpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(vpc.subnets.clone()))
        .set_security_groups(Some(vpc.security_groups.clone()).filter(|g| !g.is_empty()))
        .assign_public_ip(if vpc.assign_public_ip {
            AssignPublicIp::Enabled
        } else {
            AssignPublicIp::Disabled
        })
        .build()
        .map_err(|e| Error::invalid("spec.networkConfiguration", e.to_string()))?;
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(awsvpc)
        .build())
}

async fn create_service(
    desired: &Desired,
    scheduling: Scheduling,
    desired_count: Option<i32>,
    task_definition: &str,
    clients: &AccountClients,
) -> Result<ObservedService> {
    let mut request = clients
        .ecs
        .create_service()
        .cluster(&desired.cluster)
        .service_name(&desired.service_name)
        .task_definition(task_definition)
        .client_token(client_token(&format!(
            "{}/{}",
            desired.owner.uid, desired.service_name
        )))
        .scheduling_strategy(match scheduling {
            Scheduling::PerInstance => SchedulingStrategy::Replica,
            Scheduling::Daemon | Scheduling::ManagedDaemon => SchedulingStrategy::Daemon,
        })
        .set_desired_count(desired_count)
        .set_placement_constraints(Some(placement_constraints(
            &desired.placement_constraints(scheduling),
        )))
        .deployment_configuration(deployment_configuration(desired, false)?)
        // DAEMON runs with the EC2 launch type only: say so, or a cluster's default
        // capacity provider strategy would apply and ECS refuse the service.
        .set_launch_type(
            match (scheduling, desired.launch_type) {
                (Scheduling::Daemon, None) => Some(super::LaunchType::Ec2),
                (_, launch) => launch,
            }
            .map(|l| LaunchType::from(l.as_str())),
        )
        .set_tags(Some(ecs_tags(&desired.tags)))
        .propagate_tags(PropagateTags::from(desired.options.propagate_tags.as_str()))
        .enable_execute_command(desired.options.enable_execute_command)
        .enable_ecs_managed_tags(desired.options.enable_ecs_managed_tags)
        .set_health_check_grace_period_seconds(desired.options.health_check_grace_period_seconds);
    if !desired.options.load_balancers.is_empty() {
        request = request.set_load_balancers(Some(load_balancers(&desired.options)));
    }
    if !desired.capacity_provider_strategy.is_empty() {
        request = request.set_capacity_provider_strategy(Some(capacity_provider_strategy(
            &desired.capacity_provider_strategy,
        )?));
    }
    if let Some(network) = &desired.network_configuration {
        request = request.network_configuration(network_configuration(network)?);
    }
    let response = request
        .customize()
        .config_override(crate::single_attempt!(aws_sdk_ecs))
        .send()
        .await
        .map_err(|error| match error_code(&error) {
            Some("InvalidParameterException") => Error::invalid(
                "spec",
                format!(
                    "ECS refused to create the service: {}",
                    aws_sdk_ecs::error::ProvideErrorMetadata::message(&error)
                        .unwrap_or("no reason given")
                ),
            ),
            _ => aws_error("ECS", "CreateService", error),
        })?;
    response
        .service()
        .map(observed_service)
        .ok_or_else(|| Error::NotReady("CreateService returned no service".into()))
}

async fn update_service(
    desired: &Desired,
    update: &ServiceUpdate,
    applied: &Applied,
    clients: &AccountClients,
) -> Result<ObservedService> {
    let mut request = clients
        .ecs
        .update_service()
        .cluster(&desired.cluster)
        .service(&desired.service_name)
        .set_desired_count(update.desired_count.map(|(_, to)| to));
    if let Some((_, reference)) = &update.task_definition {
        request = request.task_definition(resolve(reference, applied)?);
    }
    if let Some(constraints) = &update.placement_constraints {
        request = request.set_placement_constraints(Some(placement_constraints(constraints)));
    }
    if update.deployment_limits.is_some() {
        request = request
            .deployment_configuration(deployment_configuration(desired, update.disable_alarms)?);
    }
    if let Some(options) = &update.options {
        request = request
            .set_load_balancers(Some(load_balancers(options)))
            .set_health_check_grace_period_seconds(options.health_check_grace_period_seconds)
            .enable_execute_command(options.enable_execute_command)
            .enable_ecs_managed_tags(options.enable_ecs_managed_tags)
            .propagate_tags(PropagateTags::from(options.propagate_tags.as_str()));
    }
    if update.force_new_deployment {
        request = request.force_new_deployment(true);
    }
    if let Some(strategy) = &update.capacity_provider_strategy {
        request = request
            .set_capacity_provider_strategy(Some(capacity_provider_strategy(strategy)?))
            // ECS applies a new strategy only with a new deployment.
            .force_new_deployment(true);
    }
    if let Some(network) = &update.network_configuration {
        request = request.network_configuration(network_configuration(network)?);
    }
    let response = request
        .send()
        .await
        .map_err(|e| aws_error("ECS", "UpdateService", e))?;
    response
        .service()
        .map(observed_service)
        .ok_or_else(|| Error::NotReady("UpdateService returned no service".into()))
}

/// Deletes the service: scale to zero, then delete with force. A service that is gone,
/// or that is not this object's, counts as done (the latter is left untouched).
pub async fn delete(obj: &DaemonService, clients: &AccountClients) -> Result<Vec<PlannedChange>> {
    let cluster = &obj.spec.cluster;
    let name = obj.service_name();
    let described = clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .services(&name)
        .include(aws_sdk_ecs::types::ServiceField::Tags)
        .send()
        .await;
    let service = match described {
        Ok(described) => described.services().first().map(observed_service),
        Err(error) if error_code(&error) == Some("ClusterNotFoundException") => None,
        Err(error) => return Err(aws_error("ECS", "DescribeServices", error)),
    };
    let Some(service) = service.filter(|s| s.status != "INACTIVE") else {
        return Ok(Vec::new());
    };
    let owner = obj.owner();
    if !owner.owns(&service.tags) {
        // Not ours (never adopted, or another object's): never delete it.
        return Ok(vec![PlannedChange {
            action: "LeaveService".into(),
            target: "service".into(),
            detail: "the service is not tagged as this object's; left untouched".into(),
        }]);
    }
    let mut changes = Vec::new();
    if service.scheduling_strategy == "REPLICA" && service.desired_count > 0 {
        let scaled = clients
            .ecs
            .update_service()
            .cluster(cluster)
            .service(&name)
            .desired_count(0)
            .send()
            .await;
        match scaled {
            Ok(_) => changes.push(PlannedChange {
                action: "UpdateService".into(),
                target: "service".into(),
                detail: format!(
                    "desiredCount {} -> 0 before deletion",
                    service.desired_count
                ),
            }),
            Err(error) if is_gone(&error, "Service") => return Ok(changes),
            Err(error) => return Err(aws_error("ECS", "UpdateService", error)),
        }
    }
    match clients
        .ecs
        .delete_service()
        .cluster(cluster)
        .service(&name)
        .force(true)
        .send()
        .await
    {
        Ok(_) => changes.push(PlannedChange {
            action: "DeleteService".into(),
            target: "service".into(),
            detail: "deleted (force)".into(),
        }),
        Err(error) if is_gone(&error, "Service") => {}
        Err(error) => return Err(aws_error("ECS", "DeleteService", error)),
    }
    Ok(changes)
}
