//! The desired state: the spec validated (every refusal names its field) and, once
//! resolved, the external ID. Validation is pure and runs before any AWS call.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::document::{self, MANAGED_POLICY_MAX_CHARS, Statement};
use super::{Effect, ExternalIdSpec, IntegrationRole};
use crate::aws::Sensitive;
use crate::common::Owner;
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
    /// The external ID's value, once resolved from its Secret (never printed).
    pub external_id: Option<Sensitive>,
    /// The name of the Secret the external ID is in (for status; never the value).
    pub external_id_secret_name: Option<String>,
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
            external_id: None,
            external_id_secret_name: None,
            adopt_existing: spec.common.adopt_existing,
            spec_unchanged: obj
                .status
                .as_ref()
                .and_then(|s| s.common.observed_generation)
                .is_some_and(|g| Some(g) == obj.metadata.generation),
        })
    }

    /// The trust policy, with the external ID.
    pub fn trust_policy(&self) -> Value {
        let external_id = self.external_id.as_ref().map(|id| id.0.as_str());
        document::trust_policy(&self.principals, external_id)
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
