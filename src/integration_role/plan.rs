//! The plan: a pure function of the desired state (with the external ID) and the
//! observation.
//! The permission set is split across policies here (`split`), sticky to what IAM has.
//! No change carries the trust policy: apply renders it again, so that no change (and no
//! log line or event made of one) can hold the external ID. Permission documents hold no
//! secret; they are carried but never described, only counted.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::desired::Desired;
use super::document;
use super::observe::Observed;
use super::split::{self, Parts};
use crate::common::Claim;
use crate::runtime::{self, PlannedChange};
use crate::{Error, Result};

/// One change to make, in plan order. Policy changes name the part (1 is the policy
/// `<name>`, N is `<name>-N`) and carry its permission document, which holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    CreatePolicy {
        part: usize,
        document: Value,
    },
    /// A new default version (pruning the oldest non-default one when five exist).
    CreatePolicyVersion {
        part: usize,
        document: Value,
        drift: bool,
    },
    TagPolicy {
        part: usize,
    },
    CreateRole,
    /// `rotation`: only the external ID differs, so the trust policy follows a rotated
    /// external ID (never drift).
    UpdateAssumeRolePolicy {
        drift: bool,
        rotation: bool,
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
    /// A part no longer needed: its versions and itself (detached before).
    DeletePolicy {
        part: usize,
    },
}

impl runtime::Change for Change {
    fn is_drift_repair(&self) -> bool {
        matches!(
            self,
            Change::CreatePolicyVersion { drift: true, .. }
                | Change::UpdateAssumeRolePolicy {
                    drift: true,
                    rotation: false
                }
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
        let part = |number: &usize| match number {
            1 => "policy".to_string(),
            n => format!("policy-{n}"),
        };
        let (action, target, detail) = match self {
            Change::CreatePolicy { part: n, document } => (
                "CreatePolicy",
                part(n),
                format!(
                    "create the permission policy ({} actions)",
                    action_count(document)
                ),
            ),
            Change::CreatePolicyVersion {
                part: n, document, ..
            } => (
                "CreatePolicyVersion",
                part(n),
                format!(
                    "the permission document differs; new default version ({} actions)",
                    action_count(document)
                ),
            ),
            Change::TagPolicy { part: n } => (
                "TagPolicy",
                part(n),
                "tag as managed by this object".to_string(),
            ),
            Change::DeletePolicy { part: n } => (
                "DeletePolicy",
                part(n),
                "no longer needed by the permission set".to_string(),
            ),
            Change::CreateRole => (
                "CreateRole",
                "role".into(),
                "create the role with its trust policy".to_string(),
            ),
            // Its own name, so that a rotation reads as one (and is its own Event series).
            Change::UpdateAssumeRolePolicy { rotation: true, .. } => (
                "RotateExternalId",
                "role".into(),
                "the external ID was rotated; UpdateAssumeRolePolicy in place".to_string(),
            ),
            Change::UpdateAssumeRolePolicy { .. } => (
                "UpdateAssumeRolePolicy",
                "role".into(),
                "the trust policy differs".to_string(),
            ),
            Change::UpdateRole { .. } => (
                "UpdateRole",
                "role".into(),
                "description or max session duration".to_string(),
            ),
            Change::PutRolePermissionsBoundary { .. } => (
                "PutRolePermissionsBoundary",
                "role".into(),
                "set the permissions boundary".to_string(),
            ),
            Change::DeleteRolePermissionsBoundary { .. } => (
                "DeleteRolePermissionsBoundary",
                "role".into(),
                "remove the permissions boundary".to_string(),
            ),
            Change::TagRole { .. } => ("TagRole", "role".into(), "tags".to_string()),
            Change::AttachRolePolicy { arn, .. } => {
                ("AttachRolePolicy", "role".into(), arn.clone())
            }
            Change::DetachRolePolicy { arn, .. } => {
                ("DetachRolePolicy", "role".into(), arn.clone())
            }
        };
        let drift = self.is_drift_repair();
        PlannedChange {
            action: action.to_string(),
            target,
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
    let parts = plan_policies(desired, observed, &mut changes)?;
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
            if let Some(rotation) = trust_differs(role.trust.as_ref(), &trust, desired) {
                changes.push(Change::UpdateAssumeRolePolicy { drift, rotation });
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
    wanted.extend(
        parts
            .keys()
            .filter_map(|&number| observed.part_arn(desired, number)),
    );
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
    // Parts no longer needed, once detached; only what is tagged as ours.
    for (&number, policy) in &observed.policies {
        if !parts.contains_key(&number) && desired.owner.owns(&policy.tags) {
            changes.push(Change::DeletePolicy { part: number });
        }
    }
    Ok(changes)
}

/// The split of the permission set given the parts IAM has, and the changes that write
/// it: a part is created or given a new version only when its grants differ.
fn plan_policies(
    desired: &Desired,
    observed: &Observed,
    changes: &mut Vec<Change>,
) -> Result<Parts> {
    let Some(wanted) = &desired.policy else {
        return Ok(Parts::new());
    };
    let drift = desired.spec_unchanged;
    let mut live = BTreeMap::new();
    let mut adopt = BTreeSet::new();
    for (&number, policy) in &observed.policies {
        let claim = desired.owner.claim(
            &format!("IAM policy {}", wanted.part_name(number)),
            &policy.tags,
            desired.adopt_existing,
        )?;
        if claim == Claim::Adopt {
            adopt.insert(number);
        }
        live.insert(number, policy.document.as_ref().and_then(split::grants_of));
    }
    let parts = wanted.permissions.assign(&live, wanted.max_parts);
    for (&part, grants) in &parts {
        let document = wanted.permissions.render(grants);
        match live.get(&part) {
            None => changes.push(Change::CreatePolicy { part, document }),
            Some(grants_now) => {
                if adopt.contains(&part) {
                    changes.push(Change::TagPolicy { part });
                }
                if grants_now.as_ref() != Some(grants) {
                    changes.push(Change::CreatePolicyVersion {
                        part,
                        document,
                        drift,
                    });
                }
            }
        }
    }
    Ok(parts)
}

/// `None` when the live trust policy grants what `wanted` does; otherwise whether only
/// the external ID differs (a rotation).
fn trust_differs(live: Option<&Value>, wanted: &Value, desired: &Desired) -> Option<bool> {
    let Some(live) = live else {
        return Some(false);
    };
    if document::equivalent(live, wanted) {
        return None;
    }
    let live_id = crate::integration_role::observe::external_ids_in(live)
        .into_iter()
        .next();
    let rotation = desired.external_id.is_some()
        && live_id.is_some_and(|id| document::equivalent(live, &desired.trust.render(Some(&id))));
    Some(rotation)
}

/// How many actions a rendered permission document grants.
fn action_count(document: &Value) -> usize {
    document["Statement"]
        .as_array()
        .map(|statements| {
            statements
                .iter()
                .map(|s| s["Action"].as_array().map_or(0, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
