//! Apply: executes the plan in order; deletion.

use aws_sdk_iam::types::Tag;

use super::IntegrationRole;
use super::desired::Desired;
use super::observe::{Observed, attached_policies, gone_or};
use super::plan::Change;
use crate::aws::{AccountClients, aws_error};
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
    let iam = &clients.iam;
    let policy_arn = observed.policy_arn(desired);
    let mut applied = Vec::new();
    for change in changes {
        match change {
            Change::CreatePolicy => {
                let policy = desired.policy.as_ref().expect("planned with a policy");
                iam.create_policy()
                    .policy_name(&policy.name)
                    .path(&desired.path)
                    .policy_document(policy.document.to_string())
                    .description(format!("Managed by ecsfleet for {}", desired.owner.key()))
                    .set_tags(Some(iam_tags(&desired.tags)?))
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "CreatePolicy", e))?;
            }
            Change::CreatePolicyVersion { .. } => {
                let policy = desired.policy.as_ref().expect("planned with a policy");
                let arn = policy_arn.as_deref().expect("planned with a policy");
                prune_versions(clients, arn).await?;
                iam.create_policy_version()
                    .policy_arn(arn)
                    .policy_document(policy.document.to_string())
                    .set_as_default(true)
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "CreatePolicyVersion", e))?;
            }
            Change::TagPolicy => {
                iam.tag_policy()
                    .policy_arn(policy_arn.as_deref().expect("planned with a policy"))
                    .set_tags(Some(iam_tags(&desired.owner.tags())?))
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "TagPolicy", e))?;
            }
            Change::CreateRole => {
                iam.create_role()
                    .role_name(&desired.role_name)
                    .path(&desired.path)
                    .assume_role_policy_document(desired.trust_policy().to_string())
                    .set_description(desired.description.clone())
                    .max_session_duration(desired.max_session_duration_seconds)
                    .set_permissions_boundary(desired.permissions_boundary_arn.clone())
                    .set_tags(Some(iam_tags(&desired.tags)?))
                    .send()
                    .await
                    .map_err(|e| aws_error("IAM", "CreateRole", e))?;
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
        clients
            .iam
            .delete_policy_version()
            .policy_arn(policy_arn)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| aws_error("IAM", "DeletePolicyVersion", e))?;
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
/// inline policies and the role, then the policy's non-default versions and the policy.
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
    if let Some(role) = role {
        let tags = role
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect();
        if owner.owns(&tags) {
            for arn in attached_policies(clients, &role_name).await? {
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
    let name = policy
        .name
        .clone()
        .unwrap_or_else(|| format!("{role_name}Policy"));
    let arn = format!("arn:aws:iam::{account_id}:policy{path}{name}");
    let live = match iam.get_policy().policy_arn(&arn).send().await {
        Ok(answer) => answer.policy().cloned(),
        Err(error) => {
            gone_or("GetPolicy", error)?;
            None
        }
    };
    let Some(live) = live else {
        return Ok(done);
    };
    let tags = live
        .tags()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    if !owner.owns(&tags) {
        return Ok(done);
    }
    let versions = iam
        .list_policy_versions()
        .policy_arn(&arn)
        .send()
        .await
        .map_err(|e| aws_error("IAM", "ListPolicyVersions", e))?;
    for version in versions
        .versions()
        .iter()
        .filter(|v| !v.is_default_version())
    {
        if let Some(id) = version.version_id()
            && let Err(error) = iam
                .delete_policy_version()
                .policy_arn(&arn)
                .version_id(id)
                .send()
                .await
        {
            gone_or("DeletePolicyVersion", error)?;
        }
    }
    if let Err(error) = iam.delete_policy().policy_arn(&arn).send().await {
        gone_or("DeletePolicy", error)?;
    }
    done.push(PlannedChange {
        action: "DeletePolicy".into(),
        target: "policy".into(),
        detail: arn,
    });
    Ok(done)
}
