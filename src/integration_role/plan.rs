//! The plan: a pure function of the validated spec, the external ID and the observation.
//! Changes carry no document: apply renders it again, so that no change (and no log line
//! or event made of one) can hold the external ID.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::document::{self, MANAGED_POLICY_MAX_CHARS, Statement};
use super::observe::Observed;
use super::{Effect, ExternalIdSpec, IntegrationRole};
use crate::aws::Sensitive;
use crate::common::{Claim, Owner};
use crate::runtime::PlannedChange;
use crate::{Error, Result};

/// The spec, validated: what IAM should look like.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub owner: Owner,
    pub role_name: String,
    pub path: String,
    pub description: Option<String>,
    pub max_session_duration_seconds: i32,
    pub permissions_boundary_arn: Option<String>,
    /// `spec.tags` plus the ownership tags.
    pub tags: BTreeMap<String, String>,
    /// Normalized principal ARNs.
    pub principals: Vec<String>,
    /// Whether the trust policy requires an external ID.
    pub requires_external_id: bool,
    pub policy: Option<DesiredPolicy>,
    pub managed_policy_arns: BTreeSet<String>,
    pub output_secret_name: Option<String>,
    pub adopt_existing: bool,
    /// The spec has not changed since the last successful sync.
    pub spec_unchanged: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DesiredPolicy {
    pub name: String,
    pub document: Value,
}

impl Desired {
    /// Validates the spec; everything is checked here too because the CLI reads files
    /// that no API server has seen.
    pub fn from_spec(obj: &IntegrationRole) -> Result<Desired> {
        let spec = &obj.spec;
        let role_name = obj.role_name();
        if role_name.is_empty()
            || role_name.len() > 64
            || !role_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c))
        {
            return Err(Error::invalid(
                "spec.roleName",
                format!(
                    "{role_name:?} is not a valid IAM role name (1–64 of letters, digits and +=,.@_-)"
                ),
            ));
        }
        let path = spec.path.clone().unwrap_or_else(|| "/".to_string());
        if !path.starts_with('/') || !path.ends_with('/') || path.len() > 512 {
            return Err(Error::invalid(
                "spec.path",
                "must start and end with / (at most 512 characters)",
            ));
        }
        let max_session = spec.max_session_duration_seconds.unwrap_or(3600);
        if !(3600..=43200).contains(&max_session) {
            return Err(Error::invalid(
                "spec.maxSessionDurationSeconds",
                "must be 3600–43200",
            ));
        }
        if spec.trust.principals.is_empty() {
            return Err(Error::invalid(
                "spec.trust.principals",
                "at least one principal is required",
            ));
        }
        let principals = spec
            .trust
            .principals
            .iter()
            .enumerate()
            .map(|(index, principal)| {
                document::normalize_principal(principal).ok_or_else(|| {
                    Error::invalid(
                        format!("spec.trust.principals[{index}]"),
                        format!("{principal:?} is neither a 12-digit account ID nor an IAM principal ARN"),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let requires_external_id = match &spec.trust.external_id {
            Some(ExternalIdSpec {
                secret_ref: Some(_),
                generate: false,
            }) => true,
            Some(ExternalIdSpec {
                secret_ref: None,
                generate: true,
            }) => true,
            Some(_) => {
                return Err(Error::invalid(
                    "spec.trust.externalId",
                    "set exactly one of secretRef and generate: true",
                ));
            }
            None if spec.trust.allow_without_external_id => false,
            None => {
                return Err(Error::invalid(
                    "spec.trust.externalId",
                    "is required unless spec.trust.allowWithoutExternalId is true",
                ));
            }
        };
        let policy = match &spec.policy {
            None => None,
            Some(policy) => {
                let statements = policy
                    .statements
                    .iter()
                    .enumerate()
                    .map(|(index, s)| statement(index, s, policy.allow_full_access))
                    .collect::<Result<Vec<_>>>()?;
                if statements.is_empty() {
                    return Err(Error::invalid(
                        "spec.policy.statements",
                        "at least one statement is required",
                    ));
                }
                let document = document::permission_policy(&statements);
                let size = document::counted_size(&document);
                if size > MANAGED_POLICY_MAX_CHARS {
                    return Err(Error::invalid(
                        "spec.policy.statements",
                        format!(
                            "the rendered policy has {size} characters; IAM allows {MANAGED_POLICY_MAX_CHARS} in a managed policy"
                        ),
                    ));
                }
                let name = policy
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{role_name}Policy"));
                Some(DesiredPolicy { name, document })
            }
        };
        for (index, arn) in spec.managed_policy_arns.iter().enumerate() {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if parts.len() != 6
                || parts[0] != "arn"
                || parts[2] != "iam"
                || !parts[5].starts_with("policy/")
            {
                return Err(Error::invalid(
                    format!("spec.managedPolicyArns[{index}]"),
                    format!("{arn:?} is not an IAM policy ARN"),
                ));
            }
        }
        if spec.tags.keys().any(|k| k.starts_with("ecsfleet.dev/")) {
            return Err(Error::invalid(
                "spec.tags",
                "keys under ecsfleet.dev/ are reserved",
            ));
        }
        let owner = obj.owner();
        let mut tags = spec.tags.clone();
        tags.extend(owner.tags());
        Ok(Desired {
            owner,
            role_name,
            path,
            description: spec.description.clone().filter(|d| !d.is_empty()),
            max_session_duration_seconds: max_session,
            permissions_boundary_arn: spec.permissions_boundary_arn.clone(),
            tags,
            principals,
            requires_external_id,
            policy,
            managed_policy_arns: spec.managed_policy_arns.iter().cloned().collect(),
            output_secret_name: spec.output_secret_name.clone(),
            adopt_existing: spec.common.adopt_existing,
            spec_unchanged: obj
                .status
                .as_ref()
                .and_then(|s| s.common.observed_generation)
                .is_some_and(|g| Some(g) == obj.metadata.generation),
        })
    }

    /// The trust policy with the external ID.
    pub fn trust_policy(&self, external_id: Option<&Sensitive>) -> Value {
        document::trust_policy(&self.principals, external_id.map(|id| id.0.as_str()))
    }
}

fn statement(
    index: usize,
    spec: &super::StatementSpec,
    allow_full_access: bool,
) -> Result<Statement> {
    let field = format!("spec.policy.statements[{index}]");
    if spec.actions.is_empty() {
        return Err(Error::invalid(
            format!("{field}.actions"),
            "at least one action is required",
        ));
    }
    for (i, action) in spec.actions.iter().enumerate() {
        if !document::is_valid_action(action) {
            return Err(Error::invalid(
                format!("{field}.actions[{i}]"),
                format!("{action:?} is not shaped service:Action (e.g. ec2:Describe*)"),
            ));
        }
    }
    let resources = if spec.resources.is_empty() {
        vec!["*".to_string()]
    } else {
        spec.resources.clone()
    };
    let allow = spec.effect == Effect::Allow;
    if allow
        && !allow_full_access
        && spec.actions.iter().any(|a| a == "*")
        && resources.iter().any(|r| r == "*")
    {
        return Err(Error::invalid(
            &field,
            "allows every action on every resource; set spec.policy.allowFullAccess: true if that is really meant",
        ));
    }
    Ok(Statement {
        sid: spec.sid.clone(),
        allow,
        actions: spec.actions.clone(),
        resources,
        conditions: spec
            .conditions
            .iter()
            .map(|(operator, keys)| {
                let keys = keys
                    .iter()
                    .map(|(key, values)| (key.clone(), serde_json::json!(values)))
                    .collect();
                (operator.clone(), keys)
            })
            .collect(),
    })
}

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

impl Change {
    pub fn is_drift_repair(&self) -> bool {
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

    /// The change as `plan` prints it: names only, never a document.
    pub fn describe(&self) -> PlannedChange {
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
pub fn plan(
    desired: &Desired,
    external_id: Option<&Sensitive>,
    observed: &Observed,
) -> Result<Vec<Change>> {
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

    let trust = desired.trust_policy(external_id);
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
