//! Apply, for a Managed Daemon: `RegisterDaemonTaskDefinition` (only when the digest
//! differs), `CreateDaemon` (with a client token, so a retried create makes one daemon),
//! `UpdateDaemon`, `TagResource` (adoption) and `DeleteDaemon`.

use aws_sdk_ecs::types::{
    DaemonAlarmConfiguration, DaemonDeploymentConfiguration, DaemonPropagateTags,
};

use crate::aws::{AccountClients, aws_error, error_code};
use crate::daemon_service::DaemonService;
use crate::daemon_service::cache::Shared;
use crate::daemon_service::desired::{Desired, DesiredTaskDefinition};
use crate::daemon_service::ecs::{
    ClusterKey, adopt, client_token, ecs_tags, is_gone, json_body, tag_map,
};
use crate::daemon_service::observe::daemon::find;
use crate::daemon_service::plan::TaskDefinitionRef;
use crate::daemon_service::plan::daemon::DaemonChange;
use crate::daemon_service::task_definition::DIGEST_TAG;
use crate::runtime::PlannedChange;
use crate::{Error, Result};

const FIELD: &str = "spec.taskDefinition";

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
            let mut tags = desired.tags.clone();
            tags.insert(DIGEST_TAG.to_string(), digest.clone());
            let registered = clients
                .ecs
                .register_daemon_task_definition()
                .family(family)
                // Not retried blindly: a lost answer is looked up by digest first.
                .customize()
                .mutate_request(json_body(rendered.body(&tags)))
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
            cluster_arn,
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
                .set_deployment_configuration(deployment_configuration(desired))
                .enable_execute_command(desired.options.enable_execute_command)
                .enable_ecs_managed_tags(desired.options.enable_ecs_managed_tags)
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
            adopt(&desired.tags, arn, clients).await?;
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
                .set_deployment_configuration(deployment_configuration(desired))
                .enable_execute_command(desired.options.enable_execute_command)
                .enable_ecs_managed_tags(desired.options.enable_ecs_managed_tags)
                .send()
                .await
                .map_err(|e| aws_error("ECS", "UpdateDaemon", e))?;
            applied.arn = Some(arn.clone());
            applied.task_definition = Some(definition);
        }
    }
    Ok(())
}

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

/// How a new definition rolls out over the instances: drain percentage, bake time and
/// alarms as the spec gives them, or `None` (ECS's defaults) when it gives none. Sent
/// with every create and update (DescribeDaemon does not report it, so it is not compared:
/// a change of these alone applies at the next roll-out).
fn deployment_configuration(desired: &Desired) -> Option<DaemonDeploymentConfiguration> {
    let deployment = &desired.deployment;
    if deployment.drain_percent.is_none()
        && deployment.bake_time_in_minutes.is_none()
        && deployment.alarms.is_none()
    {
        return None;
    }
    let alarms = deployment.alarms.as_ref().map(|a| {
        DaemonAlarmConfiguration::builder()
            .set_alarm_names(Some(a.alarm_names.clone()))
            .enable(a.enable)
            .build()
    });
    Some(
        DaemonDeploymentConfiguration::builder()
            .set_drain_percent(deployment.drain_percent.map(f64::from))
            .set_bake_time_in_minutes(deployment.bake_time_in_minutes)
            .set_alarms(alarms)
            .build(),
    )
}
