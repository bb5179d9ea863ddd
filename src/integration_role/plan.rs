//! The plan: a pure function of the desired state (with the external ID) and the
//! observation.
//! Changes carry no document: apply renders it again, so that no change (and no log line
//! or event made of one) can hold the external ID.

use std::collections::BTreeSet;

use super::desired::Desired;
use super::document;
use super::observe::Observed;
use crate::common::Claim;
use crate::runtime::{self, PlannedChange};
use crate::{Error, Result};

/// One change to make, in plan order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    CreatePolicy,
    /// A new default version (pruning the oldest non-default one when five exist).
    CreatePolicyVersion {
        drift: bool,
    },
    TagPolicy,
    CreateRole,
    UpdateAssumeRolePolicy {
        drift: bool,
    },
    UpdateRole {
        drift: bool,
    },
    PutRolePermissionsBoundary {
        drift: bool,
    },
    DeleteRolePermissionsBoundary {
        drift: bool,
    },
    TagRole {
        drift: bool,
    },
    AttachRolePolicy {
        arn: String,
        drift: bool,
    },
    DetachRolePolicy {
        arn: String,
        drift: bool,
    },
}

impl runtime::Change for Change {
    fn is_drift_repair(&self) -> bool {
        matches!(
            self,
            Change::CreatePolicyVersion { drift: true }
                | Change::UpdateAssumeRolePolicy { drift: true }
                | Change::UpdateRole { drift: true }
                | Change::PutRolePermissionsBoundary { drift: true }
                | Change::DeleteRolePermissionsBoundary { drift: true }
                | Change::TagRole { drift: true }
                | Change::AttachRolePolicy { drift: true, .. }
                | Change::DetachRolePolicy { drift: true, .. }
        )
    }

    /// Names only, never a document.
    fn describe(&self) -> PlannedChange {
        let (action, target, detail) = match self {
            Change::CreatePolicy => (
                "CreatePolicy",
                "policy",
                "create the permission policy".to_string(),
            ),
            Change::CreatePolicyVersion { .. } => (
                "CreatePolicyVersion",
                "policy",
                "the permission document differs; new default version".to_string(),
            ),
            Change::TagPolicy => (
                "TagPolicy",
                "policy",
                "tag as managed by this object".to_string(),
            ),
            Change::CreateRole => (
                "CreateRole",
                "role",
                "create the role with its trust policy".to_string(),
            ),
            Change::UpdateAssumeRolePolicy { .. } => (
                "UpdateAssumeRolePolicy",
                "role",
                "the trust policy differs".to_string(),
            ),
            Change::UpdateRole { .. } => (
                "UpdateRole",
                "role",
                "description or max session duration".to_string(),
            ),
            Change::PutRolePermissionsBoundary { .. } => (
                "PutRolePermissionsBoundary",
                "role",
                "set the permissions boundary".to_string(),
            ),
            Change::DeleteRolePermissionsBoundary { .. } => (
                "DeleteRolePermissionsBoundary",
                "role",
                "remove the permissions boundary".to_string(),
            ),
            Change::TagRole { .. } => ("TagRole", "role", "tags".to_string()),
            Change::AttachRolePolicy { arn, .. } => ("AttachRolePolicy", "role", arn.clone()),
            Change::DetachRolePolicy { arn, .. } => ("DetachRolePolicy", "role", arn.clone()),
        };
        let drift = self.is_drift_repair();
        PlannedChange {
            action: action.to_string(),
            target: target.to_string(),
            detail: if drift {
                format!("{detail} (repairs drift)")
            } else {
                detail
            },
        }
    }
}

/// The changes that bring IAM to `desired`. Refuses, before proposing anything, a role or
/// policy that is not this object's (unless `adoptExisting`) or that is another's.
pub fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<Change>> {
    let mut changes = Vec::new();
    let drift = desired.spec_unchanged;
    let resource = |kind: &str, name: &str| format!("IAM {kind} {name}");

    let role_claim = match &observed.role {
        Some(role) => {
            if role.path != desired.path {
                return Err(Error::invalid(
                    "spec.path",
                    format!(
                        "the role exists with path {}; IAM cannot move a role",
                        role.path
                    ),
                ));
            }
            Some(desired.owner.claim(
                &resource("role", &desired.role_name),
                &role.tags,
                desired.adopt_existing,
            )?)
        }
        None => None,
    };
    let policy_claim = match (&observed.policy, &desired.policy) {
        (Some(policy), Some(wanted)) => Some(desired.owner.claim(
            &resource("policy", &wanted.name),
            &policy.tags,
            desired.adopt_existing,
        )?),
        _ => None,
    };

    if let Some(wanted) = &desired.policy {
        match &observed.policy {
            None => changes.push(Change::CreatePolicy),
            Some(policy) => {
                if policy_claim == Some(Claim::Adopt) {
                    changes.push(Change::TagPolicy);
                }
                let same = policy
                    .document
                    .as_ref()
                    .is_some_and(|live| document::equivalent(live, &wanted.document));
                if !same {
                    changes.push(Change::CreatePolicyVersion { drift });
                }
            }
        }
    }

    let trust = desired.trust_policy();
    match &observed.role {
        None => changes.push(Change::CreateRole),
        Some(role) => {
            let adopting = role_claim == Some(Claim::Adopt);
            let missing_tags = desired
                .tags
                .iter()
                .any(|(k, v)| role.tags.get(k) != Some(v));
            if adopting || missing_tags {
                changes.push(Change::TagRole {
                    drift: drift && !adopting,
                });
            }
            if !role
                .trust
                .as_ref()
                .is_some_and(|live| document::equivalent(live, &trust))
            {
                changes.push(Change::UpdateAssumeRolePolicy { drift });
            }
            if role.description != desired.description
                || role.max_session_duration_seconds != desired.max_session_duration_seconds
            {
                changes.push(Change::UpdateRole { drift });
            }
            match (
                &role.permissions_boundary_arn,
                &desired.permissions_boundary_arn,
            ) {
                (live, Some(wanted)) if live.as_ref() != Some(wanted) => {
                    changes.push(Change::PutRolePermissionsBoundary { drift })
                }
                (Some(_), None) => changes.push(Change::DeleteRolePermissionsBoundary { drift }),
                _ => {}
            }
        }
    }

    let mut wanted: BTreeSet<String> = desired.managed_policy_arns.clone();
    if let Some(arn) = observed.policy_arn(desired) {
        wanted.insert(arn);
    }
    for arn in wanted.difference(&observed.attached) {
        // A missing attachment on an existing role that the spec already had is drift.
        changes.push(Change::AttachRolePolicy {
            arn: arn.clone(),
            drift: drift && observed.role.is_some(),
        });
    }
    for arn in observed.attached.difference(&wanted) {
        changes.push(Change::DetachRolePolicy {
            arn: arn.clone(),
            drift,
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests;
