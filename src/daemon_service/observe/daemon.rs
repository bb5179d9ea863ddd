//! Observe, for a Managed Daemon (`CreateDaemon`): `DescribeDaemon` and
//! `DescribeDaemonDeployments`; the daemon's ARN comes from the status (or, once, from
//! `ListDaemons`); the definition behind a daemon revision (`DescribeDaemonRevisions`)
//! never changes and is remembered; the family's latest daemon task definition and its
//! digest tag are cached like task definitions.

use std::collections::BTreeMap;

use crate::Result;
use crate::aws::{AccountClients, aws_error, error_code};
use crate::daemon_service::cache::Shared;
use crate::daemon_service::desired::{Desired, DesiredTaskDefinition};
use crate::daemon_service::ecs::{ClusterKey, ObservedTaskDefinition, is_gone, tag_map};
use crate::daemon_service::task_definition::DIGEST_TAG;

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
pub async fn find(
    clients: &AccountClients,
    cluster_arn: &str,
    name: &str,
) -> Result<Option<String>> {
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
        ..Default::default()
    }))
}
