//! ECS as both scheduling paths read and write it: what a cluster, a service and a task
//! definition look like to the plan, the reads behind them, and the small write helpers
//! (tags, client tokens, "gone" answers) that services and Managed Daemons share.

use std::collections::BTreeMap;

use aws_sdk_ecs::types::{ServiceField, Tag, TaskDefinitionField};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_types::body::SdkBody;
use sha2::{Digest, Sha256};

use super::CapacityProviderStrategyItem;
use super::filter::InstanceFacts;
use super::task_definition::DIGEST_TAG;
use crate::aws::{AccountClients, AwsTarget, aws_error, error_code};
use crate::{Error, Result};

/// Identifies a cluster across accounts and regions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClusterKey {
    pub region: String,
    pub role: Option<String>,
    /// The cluster's name (the last part of an ARN).
    pub cluster: String,
}

impl ClusterKey {
    pub fn new(region: &str, target: &AwsTarget, cluster: &str) -> Self {
        ClusterKey {
            region: region.to_string(),
            role: target.assume_role_arn.clone(),
            cluster: cluster_name(cluster).to_string(),
        }
    }
}

/// `my-cluster` for `arn:aws:ecs:eu-west-1:123456789012:cluster/my-cluster` or `my-cluster`.
pub fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

/// A container instance as the plan needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct ContainerInstance {
    pub arn: String,
    /// ACTIVE, DRAINING, REGISTERING, ...
    pub status: String,
    pub facts: InstanceFacts,
}

/// The live service, as the plan and the status need it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedService {
    pub arn: String,
    pub name: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub scheduling_strategy: String,
    pub desired_count: i32,
    pub running_count: i32,
    pub pending_count: i32,
    pub task_definition: Option<String>,
    pub launch_type: Option<String>,
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// (type, expression) pairs.
    pub placement_constraints: Vec<(String, Option<String>)>,
    /// (minimumHealthyPercent, maximumPercent).
    pub deployment_limits: Option<(Option<i32>, Option<i32>)>,
    /// The circuit breaker and alarms of the deployment configuration.
    pub deployment_guards: DeploymentGuards,
    /// Load balancers, ECS Exec, managed tags and tag propagation.
    pub options: ServiceOptions,
    /// (subnets, security groups, assign public IP).
    pub network: Option<(Vec<String>, Vec<String>, bool)>,
    pub tags: BTreeMap<String, String>,
    pub primary_rollout_state: Option<String>,
    pub deployments: usize,
}

impl ObservedService {
    pub fn is_active(&self) -> bool {
        self.status == "ACTIVE"
    }
}

/// What stops a failing deployment, as comparable values: the circuit breaker's
/// (enable, rollback), and the alarms' (sorted names, rollback) when enabled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeploymentGuards {
    pub circuit_breaker: (bool, bool),
    pub alarms: Option<(Vec<String>, bool)>,
}

/// A service's options besides placement and deployment, as comparable values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceOptions {
    /// (target group ARN, Classic load balancer name, container, port), sorted.
    pub load_balancers: Vec<(Option<String>, Option<String>, String, i32)>,
    /// Compared only when the spec sets it.
    pub health_check_grace_period_seconds: Option<i32>,
    pub enable_execute_command: bool,
    pub enable_ecs_managed_tags: bool,
    /// `SERVICE`, `TASK_DEFINITION` or `NONE`.
    pub propagate_tags: String,
}

/// The task definition revision the spec resolves to today.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedTaskDefinition {
    pub arn: String,
    /// The digest tag ecsfleet put on the revision, if any.
    pub digest: Option<String>,
    /// What the revision reaches: checked against the namespace's grants when the spec
    /// names an existing revision (`taskDefinition.arn`) rather than writing one.
    pub reach: Reach,
}

/// The roles a task definition runs with and what it asks of the host.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reach {
    pub task_role_arn: Option<String>,
    pub execution_role_arn: Option<String>,
    /// The first thing it asks of the host, in words, if any.
    pub host: Option<&'static str>,
}

impl Reach {
    fn of(definition: &aws_sdk_ecs::types::TaskDefinition) -> Self {
        use aws_sdk_ecs::types::{IpcMode, NetworkMode, PidMode};
        let containers = definition.container_definitions();
        let host = [
            (
                definition.network_mode() == Some(&NetworkMode::Host),
                "the host's network",
            ),
            (
                definition.pid_mode() == Some(&PidMode::Host),
                "the host's PID namespace",
            ),
            (
                definition.ipc_mode() == Some(&IpcMode::Host),
                "the host's IPC namespace",
            ),
            (
                definition
                    .volumes()
                    .iter()
                    .any(|v| v.host().and_then(|h| h.source_path()).is_some()),
                "a host path",
            ),
            (
                definition.volumes().iter().any(|v| {
                    v.docker_volume_configuration()
                        .and_then(|d| d.driver_opts())
                        .is_some_and(|opts| !opts.is_empty())
                }),
                "a Docker volume with driver options",
            ),
            (
                containers
                    .iter()
                    .any(|c| !c.docker_security_options().is_empty()),
                "Docker security options",
            ),
            (
                containers.iter().any(|c| c.privileged() == Some(true)),
                "a privileged container",
            ),
            (
                containers.iter().any(|c| {
                    c.linux_parameters().is_some_and(|p| {
                        !p.devices().is_empty()
                            || p.capabilities().is_some_and(|caps| !caps.add().is_empty())
                    })
                }),
                "added capabilities or devices",
            ),
        ]
        .into_iter()
        .find_map(|(uses, what)| uses.then_some(what));
        Reach {
            task_role_arn: definition.task_role_arn().map(str::to_string),
            execution_role_arn: definition.execution_role_arn().map(str::to_string),
            host,
        }
    }
}

/// `family:revision` of a task definition ARN.
pub fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

pub async fn list_instances(
    clients: &AccountClients,
    cluster: &str,
    described: bool,
) -> Result<Vec<ContainerInstance>> {
    let mut arns = Vec::new();
    let mut next_token = None;
    // Listed only: the ACTIVE ones, which are the ones that count.
    let status = (!described).then_some(aws_sdk_ecs::types::ContainerInstanceStatus::Active);
    loop {
        let page = clients
            .ecs
            .list_container_instances()
            .cluster(cluster)
            .set_status(status.clone())
            .set_next_token(next_token)
            .max_results(100)
            .send()
            .await
            .map_err(|e| cluster_error("ListContainerInstances", cluster, e))?;
        arns.extend(page.container_instance_arns().iter().cloned());
        next_token = page.next_token().map(str::to_string);
        if next_token.is_none() {
            break;
        }
    }
    if !described {
        return Ok(arns
            .into_iter()
            .map(|arn| ContainerInstance {
                arn,
                status: "ACTIVE".to_string(),
                facts: InstanceFacts::default(),
            })
            .collect());
    }
    let mut instances = Vec::with_capacity(arns.len());
    for chunk in arns.chunks(100) {
        let described = clients
            .ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| cluster_error("DescribeContainerInstances", cluster, e))?;
        for instance in described.container_instances() {
            instances.push(ContainerInstance {
                arn: instance
                    .container_instance_arn()
                    .unwrap_or_default()
                    .to_string(),
                status: instance.status().unwrap_or_default().to_string(),
                facts: InstanceFacts {
                    ec2_instance_id: instance.ec2_instance_id().map(str::to_string),
                    agent_connected: instance.agent_connected(),
                    agent_version: instance
                        .version_info()
                        .and_then(|v| v.agent_version())
                        .map(str::to_string),
                    running_tasks_count: instance.running_tasks_count(),
                    attributes: instance
                        .attributes()
                        .iter()
                        .map(|a| (a.name().to_string(), a.value().map(str::to_string)))
                        .collect(),
                },
            });
        }
    }
    Ok(instances)
}

/// A missing cluster is a spec problem (or one not created yet): say so by name.
fn cluster_error<E>(
    operation: &'static str,
    cluster: &str,
    error: aws_sdk_ecs::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Error
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if error_code(&error) == Some("ClusterNotFoundException") {
        return Error::NotReady(format!(
            "ECS cluster {cluster} (spec.cluster) does not exist"
        ));
    }
    aws_error("ECS", operation, error)
}

pub async fn describe_services(
    clients: &AccountClients,
    cluster: &str,
    names: &[String],
) -> Result<Vec<ObservedService>> {
    let described = clients
        .ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names.to_vec()))
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(|e| cluster_error("DescribeServices", cluster, e))?;
    Ok(described.services().iter().map(observed_service).collect())
}

/// Converts a described (or created, or updated) service.
pub fn observed_service(service: &aws_sdk_ecs::types::Service) -> ObservedService {
    let primary = service
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"));
    ObservedService {
        arn: service.service_arn().unwrap_or_default().to_string(),
        name: service.service_name().unwrap_or_default().to_string(),
        status: service.status().unwrap_or_default().to_string(),
        scheduling_strategy: service
            .scheduling_strategy()
            .map(|s| s.as_str().to_string())
            .unwrap_or_else(|| "REPLICA".to_string()),
        desired_count: service.desired_count(),
        running_count: service.running_count(),
        pending_count: service.pending_count(),
        task_definition: service.task_definition().map(str::to_string),
        launch_type: service.launch_type().map(|l| l.as_str().to_string()),
        capacity_provider_strategy: service
            .capacity_provider_strategy()
            .iter()
            .map(|item| CapacityProviderStrategyItem {
                capacity_provider: item.capacity_provider().to_string(),
                weight: item.weight(),
                base: item.base(),
            })
            .collect(),
        placement_constraints: service
            .placement_constraints()
            .iter()
            .map(|c| {
                (
                    c.r#type()
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                    c.expression().map(str::to_string),
                )
            })
            .collect(),
        deployment_limits: service
            .deployment_configuration()
            .map(|d| (d.minimum_healthy_percent(), d.maximum_percent())),
        deployment_guards: DeploymentGuards {
            circuit_breaker: service
                .deployment_configuration()
                .and_then(|d| d.deployment_circuit_breaker())
                .map_or((false, false), |b| (b.enable(), b.rollback())),
            alarms: service
                .deployment_configuration()
                .and_then(|d| d.alarms())
                .filter(|a| a.enable())
                .map(|a| {
                    let mut names = a.alarm_names().to_vec();
                    names.sort();
                    (names, a.rollback())
                }),
        },
        options: ServiceOptions {
            load_balancers: {
                let mut all: Vec<_> = service
                    .load_balancers()
                    .iter()
                    .map(|lb| {
                        (
                            lb.target_group_arn().map(str::to_string),
                            lb.load_balancer_name().map(str::to_string),
                            lb.container_name().unwrap_or_default().to_string(),
                            lb.container_port().unwrap_or_default(),
                        )
                    })
                    .collect();
                all.sort();
                all
            },
            health_check_grace_period_seconds: service.health_check_grace_period_seconds(),
            enable_execute_command: service.enable_execute_command(),
            enable_ecs_managed_tags: service.enable_ecs_managed_tags(),
            propagate_tags: service
                .propagate_tags()
                .map_or("NONE", |p| p.as_str())
                .to_string(),
        },
        network: service
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|v| {
                (
                    v.subnets().to_vec(),
                    v.security_groups().to_vec(),
                    v.assign_public_ip().map(|a| a.as_str()) == Some("ENABLED"),
                )
            }),
        tags: tag_map(service.tags()),
        primary_rollout_state: primary
            .and_then(|d| d.rollout_state())
            .map(|r| r.as_str().to_string()),
        deployments: service.deployments().len(),
    }
}

/// ECS tags as a map (a tag without a key is dropped).
pub fn tag_map(tags: &[aws_sdk_ecs::types::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}

pub async fn describe_task_definition(
    clients: &AccountClients,
    name: &str,
) -> Result<Option<ObservedTaskDefinition>> {
    match clients
        .ecs
        .describe_task_definition()
        .task_definition(name)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
    {
        Ok(described) => Ok(described
            .task_definition()
            .map(|definition| ObservedTaskDefinition {
                arn: definition
                    .task_definition_arn()
                    .unwrap_or_default()
                    .to_string(),
                digest: described
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some(DIGEST_TAG))
                    .and_then(|t| t.value().map(str::to_string)),
                reach: Reach::of(definition),
            })),
        // ECS answers a family or revision it does not know with a ClientException.
        Err(error) if error_code(&error) == Some("ClientException") => Ok(None),
        Err(error) => Err(aws_error("ECS", "DescribeTaskDefinition", error)),
    }
}

pub fn ecs_tags(tags: &BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

/// Puts the ownership tags (and the spec's) on an existing resource: adoption.
pub async fn adopt(
    tags: &BTreeMap<String, String>,
    arn: &str,
    clients: &AccountClients,
) -> Result<()> {
    clients
        .ecs
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(ecs_tags(tags)))
        .send()
        .await
        .map_err(|e| aws_error("ECS", "TagResource", e))?;
    Ok(())
}

/// Sends `body` as the request's JSON in place of what the SDK's builder serialized: for
/// task definitions, whose members are the spec's as given and checked against ECS's own
/// model (`crate::aws::model`), so that nothing the SDK release does not know is dropped.
/// Runs before signing, so the signature covers the body sent.
pub fn json_body(body: String) -> impl Fn(&mut HttpRequest) + Send + Sync + 'static {
    move |request| {
        request
            .headers_mut()
            .insert("content-length", body.len().to_string());
        *request.body_mut() = SdkBody::from(body.as_str());
    }
}

/// A client token that makes a retried create idempotent: the same `seed` (object and
/// what it creates) gets the same token (ECS allows 36 characters).
pub fn client_token(seed: &str) -> String {
    let digest = Sha256::digest(seed);
    digest.iter().take(18).map(|b| format!("{b:02x}")).collect()
}

/// Whether ECS says the `resource` (`Service`, `Daemon`) or its cluster is gone or no
/// longer active: for a delete, done.
pub fn is_gone<E: aws_sdk_ecs::error::ProvideErrorMetadata>(
    error: &aws_sdk_ecs::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
    resource: &str,
) -> bool {
    error_code(error).is_some_and(|code| {
        code == "ClusterNotFoundException"
            || code
                .strip_prefix(resource)
                .is_some_and(|rest| rest == "NotFoundException" || rest == "NotActiveException")
    })
}
