//! Apply: executes the plan in order; deletion.

use aws_sdk_iam::types::Tag;

use super::IntegrationRole;
use super::desired::{DEFAULT_ATTACHED_POLICY_QUOTA, Desired, part_name, part_number};
use super::observe::{Observed, attached_policies, gone_or, observe_policy};
use super::plan::Change;
use crate::aws::{AccountClients, aws_error, error_code};
use crate::runtime::{Change as _, PlannedChange};
use crate::{Error, Result};

/// IAM keeps at most five versions of a managed policy.
const MAX_POLICY_VERSIONS: usize = 5;

fn iam_tags(tags: &std::collections::BTreeMap<String, String>) -> Result<Vec<Tag>> {
    tags.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::invalid("spec.tags", e.to_string()))
        })
        .collect()
}

pub async fn apply(
    desired: &Desired,
    observed: &Observed,
    changes: &[Change],
    clients: &AccountClients,
) -> Result<Vec<PlannedChange>> {
    check_references(desired, changes, clients).await?;
    let iam = &clients.iam;
    let part_arn = |part: &usize| {
        observed
            .part_arn(desired, *part)
            .expect("planned with a policy")
    };
    let mut applied = Vec::new();
    for change in changes {
        match change {
            Change::CreatePolicy { part, document } => {
                let policy = desired.policy.as_ref().expect("planned with a policy");
                let created = iam
                    .create_policy()
                    .policy_name(policy.part_name(*part))
                    .path(&desired.path)
                    .policy_document(document.to_string())
                    .description(format!("Managed by ecsfleet for {}", desired.owner.key()))
                    .set_tags(Some(iam_tags(&desired.tags)?))
                    .customize()
                    .config_override(crate::single_attempt!(aws_sdk_iam))
                    .send()
                    .await;
                match created {
                    Ok(_) => {}
                    // Created by an earlier attempt whose answer was lost, or before a
                    // crash and never attached: ours if tagged so; give it this document.
                    Err(error) if error_code(&error) == Some("EntityAlreadyExists") => {
                        take_over_policy(desired, clients, &part_arn(part), document).await?
                    }
                    Err(error) => return Err(aws_error("IAM", "CreatePolicy", error)),
                }
            }
            Change::CreatePolicyVersion { part, document, .. } => {
                new_default_version(clients, &part_arn(part), document).await?;
            }
            Change::TagPolicy { part } => {
                iam.tag_policy()
                    .policy_arn(part_arn(part))
                    .set_tags(Some(iam_tags(&desired.owner.tags())?))
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "TagPolicy", e))?;
            }
            Change::DeletePolicy { part } => delete_policy(clients, &part_arn(part)).await?,
            Change::CreateRole => {
                iam.create_role()
                    .role_name(&desired.role_name)
                    .path(&desired.path)
                    .assume_role_policy_document(desired.trust_policy().to_string())
                    .set_description(desired.description.clone())
                    .max_session_duration(desired.max_session_duration_seconds)
                    .set_permissions_boundary(desired.permissions_boundary_arn.clone())
                    .set_tags(Some(iam_tags(&desired.tags)?))
                    .customize()
                    .config_override(crate::single_attempt!(aws_sdk_iam))
                    .send()
                    .await
                    .map_err(|error| match aws_error("IAM", "CreateRole", error) {
                        // Made by an attempt whose answer was lost: look again (whose it
                        // is, the next plan decides by its tags).
                        Error::Aws { code, .. } if code == "EntityAlreadyExists" => {
                            Error::NotReady(format!(
                                "role {} appeared while being created; will look again",
                                desired.role_name
                            ))
                        }
                        other => other,
                    })?;
            }
            Change::UpdateAssumeRolePolicy { .. } => {
                iam.update_assume_role_policy()
                    .role_name(&desired.role_name)
                    .policy_document(desired.trust_policy().to_string())
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "UpdateAssumeRolePolicy", e))?;
            }
            Change::UpdateRole { .. } => {
                iam.update_role()
                    .role_name(&desired.role_name)
                    .description(desired.description.clone().unwrap_or_default())
                    .max_session_duration(desired.max_session_duration_seconds)
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "UpdateRole", e))?;
            }
            Change::PutRolePermissionsBoundary { .. } => {
                iam.put_role_permissions_boundary()
                    .role_name(&desired.role_name)
                    .set_permissions_boundary(desired.permissions_boundary_arn.clone())
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "PutRolePermissionsBoundary", e))?;
            }
            Change::DeleteRolePermissionsBoundary { .. } => {
                iam.delete_role_permissions_boundary()
                    .role_name(&desired.role_name)
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "DeleteRolePermissionsBoundary", e))?;
            }
            Change::TagRole { .. } => {
                iam.tag_role()
                    .role_name(&desired.role_name)
                    .set_tags(Some(iam_tags(&desired.tags)?))
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "TagRole", e))?;
            }
            Change::AttachRolePolicy { arn, .. } => {
                iam.attach_role_policy()
                    .role_name(&desired.role_name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|error| match aws_error("IAM", "AttachRolePolicy", error) {
                        Error::Aws { code, .. } if code == "NoSuchEntity" => Error::invalid(
                            "spec.managedPolicyArns",
                            format!("the policy {arn} does not exist"),
                        ),
                        other => other,
                    })?;
            }
            Change::DetachRolePolicy { arn, .. } => {
                if let Err(error) = iam
                    .detach_role_policy()
                    .role_name(&desired.role_name)
                    .policy_arn(arn)
                    .send()
                    .await
                {
                    gone_or("DetachRolePolicy", error)?;
                }
            }
        }
        applied.push(change.describe());
    }
    Ok(applied)
}

/// Before the first write: the managed policies to attach and the permissions boundary
/// to set must exist, or the spec is refused naming the field and nothing is written
/// (rather than a role left half made). Read only when such a change is planned.
async fn check_references(
    desired: &Desired,
    changes: &[Change],
    clients: &AccountClients,
) -> Result<()> {
    let mut wanted: Vec<(String, &str)> = Vec::new();
    let sets_boundary = changes.iter().any(|c| {
        matches!(
            c,
            Change::CreateRole | Change::PutRolePermissionsBoundary { .. }
        )
    });
    if sets_boundary && let Some(boundary) = &desired.permissions_boundary_arn {
        wanted.push(("spec.permissionsBoundaryArn".to_string(), boundary));
    }
    for change in changes {
        if let Change::AttachRolePolicy { arn, .. } = change
            && let Some(index) = desired.managed_policy_order.iter().position(|a| a == arn)
        {
            wanted.push((format!("spec.managedPolicyArns[{index}]"), arn));
        }
    }
    for (field, arn) in wanted {
        if let Err(error) = clients.iam.get_policy().policy_arn(arn).send().await {
            if error_code(&error) == Some("NoSuchEntity") {
                return Err(Error::invalid(
                    field,
                    format!("the policy {arn} does not exist"),
                ));
            }
            return Err(aws_error("IAM", "GetPolicy", error));
        }
    }
    Ok(())
}

/// `document` as the new default version of the policy at `arn`.
async fn new_default_version(
    clients: &AccountClients,
    arn: &str,
    document: &serde_json::Value,
) -> Result<()> {
    prune_versions(clients, arn).await?;
    clients
        .iam
        .create_policy_version()
        .policy_arn(arn)
        .policy_document(document.to_string())
        .set_as_default(true)
        .customize()
        .config_override(crate::single_attempt!(aws_sdk_iam))
        .send()
        .await
        .map_err(|e| aws_error("IAM", "CreatePolicyVersion", e))?;
    Ok(())
}

/// A policy that exists under a part's name: written to only if tagged as this object's
/// (a policy of anyone else's is refused, never overwritten).
async fn take_over_policy(
    desired: &Desired,
    clients: &AccountClients,
    arn: &str,
    document: &serde_json::Value,
) -> Result<()> {
    let live = observe_policy(clients, arn).await?;
    let Some(live) = live else {
        return Err(Error::Aws {
            service: "IAM",
            operation: "CreatePolicy",
            code: "EntityAlreadyExists".into(),
            message: format!("{arn} exists but cannot be read; retrying"),
            retryable: true,
        });
    };
    if !desired.owner.owns(&live.tags) {
        return Err(Error::invalid(
            "spec.policy.name",
            format!("the policy {arn} exists and is not managed by this object"),
        ));
    }
    if live.document.as_ref().and_then(super::split::grants_of) == super::split::grants_of(document)
    {
        return Ok(());
    }
    new_default_version(clients, arn, document).await
}

/// Makes room for a new version: when five exist, deletes the oldest non-default one, so
/// IAM's version limit is never hit.
async fn prune_versions(clients: &AccountClients, policy_arn: &str) -> Result<()> {
    let versions = clients
        .iam
        .list_policy_versions()
        .policy_arn(policy_arn)
        .send()
        .await
        .map_err(|e| aws_error("IAM", "ListPolicyVersions", e))?;
    let versions = versions.versions();
    if versions.len() < MAX_POLICY_VERSIONS {
        return Ok(());
    }
    let oldest = versions
        .iter()
        .filter(|v| !v.is_default_version())
        .min_by_key(|v| {
            (
                v.create_date().map(|d| d.secs()),
                version_number(v.version_id()),
            )
        });
    if let Some(version_id) = oldest.and_then(|v| v.version_id()) {
        // Gone already (an earlier attempt whose answer was lost): done.
        if let Err(error) = clients
            .iam
            .delete_policy_version()
            .policy_arn(policy_arn)
            .version_id(version_id)
            .send()
            .await
        {
            gone_or("DeletePolicyVersion", error)?;
        }
    }
    Ok(())
}

/// `v12` → 12, so versions created in the same second still sort by age.
fn version_number(version_id: Option<&str>) -> u64 {
    version_id
        .and_then(|v| v.trim_start_matches('v').parse().ok())
        .unwrap_or(u64::MAX)
}

/// Deletes what this object owns: detaches every policy from the role, deletes its
/// inline policies and the role, then each permission policy's non-default versions and
/// the policy.
/// NotFound counts as done; a role or policy that is not this object's is left alone.
pub async fn delete(obj: &IntegrationRole, clients: &AccountClients) -> Result<Vec<PlannedChange>> {
    let owner = obj.owner();
    let role_name = obj.role_name();
    let iam = &clients.iam;
    let mut done = Vec::new();
    let step = |action: &str, detail: String| PlannedChange {
        action: action.to_string(),
        target: "role".to_string(),
        detail,
    };

    let role = match iam.get_role().role_name(&role_name).send().await {
        Ok(answer) => answer.role().cloned(),
        Err(error) => {
            gone_or("GetRole", error)?;
            None
        }
    };
    let account_id = match role.as_ref() {
        Some(role) => role.arn().split(':').nth(4).unwrap_or_default().to_string(),
        None => clients.account_id().await?,
    };
    let mut attached = std::collections::BTreeSet::new();
    if let Some(role) = role {
        let tags = role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if owner.owns(&tags) {
            attached = attached_policies(clients, &role_name).await?;
            for arn in attached.clone() {
                if let Err(error) = iam
                    .detach_role_policy()
                    .role_name(&role_name)
                    .policy_arn(&arn)
                    .send()
                    .await
                {
                    gone_or("DetachRolePolicy", error)?;
                }
                done.push(step("DetachRolePolicy", arn));
            }
            let inline = iam
                .list_role_policies()
                .role_name(&role_name)
                .send()
                .await
                .map_err(|e| aws_error("IAM", "ListRolePolicies", e))?;
            for name in inline.policy_names() {
                if let Err(error) = iam
                    .delete_role_policy()
                    .role_name(&role_name)
                    .policy_name(name)
                    .send()
                    .await
                {
                    gone_or("DeleteRolePolicy", error)?;
                }
            }
            if let Err(error) = iam.delete_role().role_name(&role_name).send().await {
                gone_or("DeleteRole", error)?;
            }
            done.push(step("DeleteRole", role_name.clone()));
        } else {
            done.push(step(
                "LeaveRole",
                "the role is not tagged as this object's; left untouched".into(),
            ));
        }
    }

    let Some(policy) = &obj.spec.policy else {
        return Ok(done);
    };
    let path = obj.spec.path.clone().unwrap_or_else(|| "/".into());
    let base = policy
        .name
        .clone()
        .unwrap_or_else(|| format!("{role_name}Policy"));
    let prefix = format!("arn:aws:iam::{account_id}:policy{path}");
    // Every part this object may have made: those that were attached, and every number
    // up to the quota (a part created but never attached, before a crash).
    let quota = obj
        .spec
        .attached_policy_quota
        .map_or(DEFAULT_ATTACHED_POLICY_QUOTA, |q| q as usize);
    let parts: std::collections::BTreeSet<usize> = (1..=quota)
        .chain(
            attached
                .iter()
                .filter_map(|arn| part_number(&base, arn.strip_prefix(&prefix)?)),
        )
        .collect();
    for number in parts {
        let arn = format!("{prefix}{}", part_name(&base, number));
        let live = match iam.get_policy().policy_arn(&arn).send().await {
            Ok(answer) => answer.policy().cloned(),
            Err(error) => {
                gone_or("GetPolicy", error)?;
                None
            }
        };
        let Some(live) = live else {
            continue;
        };
        let tags = live
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if !owner.owns(&tags) {
            continue;
        }
        delete_policy(clients, &arn).await?;
        done.push(PlannedChange {
            action: "DeletePolicy".into(),
            target: "policy".into(),
            detail: arn,
        });
    }
    Ok(done)
}

/// Deletes a policy (already detached): its non-default versions, then itself.
/// `NoSuchEntity` counts as done.
async fn delete_policy(clients: &AccountClients, arn: &str) -> Result<()> {
    let iam = &clients.iam;
    let versions = match iam.list_policy_versions().policy_arn(arn).send().await {
        Ok(versions) => versions,
        Err(error) => return gone_or("ListPolicyVersions", error),
    };
    for version in versions
        .versions()
        .iter()
        .filter(|v| !v.is_default_version())
    {
        if let Some(id) = version.version_id()
            && let Err(error) = iam
                .delete_policy_version()
                .policy_arn(arn)
                .version_id(id)
                .send()
                .await
        {
            gone_or("DeletePolicyVersion", error)?;
        }
    }
    if let Err(error) = iam.delete_policy().policy_arn(arn).send().await {
        gone_or("DeletePolicy", error)?;
    }
    Ok(())
}
