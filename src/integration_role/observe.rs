//! Observation of the role, its policies and its attachments. A role in sync costs two
//! reads (GetRole, ListAttachedRolePolicies) and two per permission policy (GetPolicy,
//! GetPolicyVersion): four for a permission set that fits one policy.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::desired::Desired;
use super::document;
use crate::aws::{AccountClients, Sensitive, aws_error, error_code};
use crate::common::{OWNER_TAG, Owner};
use crate::{Error, Result};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedRole {
    pub arn: String,
    pub path: String,
    pub description: Option<String>,
    pub max_session_duration_seconds: i32,
    pub permissions_boundary_arn: Option<String>,
    /// The trust policy, decoded; `None` if IAM returned something unreadable.
    pub trust: Option<Value>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedPolicy {
    pub arn: String,
    pub default_version: String,
    /// The default version's document, decoded.
    pub document: Option<Value>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observed {
    pub account_id: String,
    pub partition: String,
    pub role: Option<ObservedRole>,
    /// The permission policies that exist, by part number (1 is `<name>`, N `<name>-N`).
    pub policies: BTreeMap<usize, ObservedPolicy>,
    /// ARNs of the managed policies attached to the role.
    pub attached: BTreeSet<String>,
}

impl Observed {
    /// The ARN part `number` of our permission policy has (or will have).
    pub fn part_arn(&self, desired: &Desired, number: usize) -> Option<String> {
        desired.policy.as_ref().map(|policy| {
            format!(
                "arn:{}:iam::{}:policy{}{}",
                self.partition,
                self.account_id,
                desired.path,
                policy.part_name(number)
            )
        })
    }

    /// The part number of an attached policy ARN, if it names one of our parts.
    fn part_of(&self, desired: &Desired, arn: &str) -> Option<usize> {
        let policy = desired.policy.as_ref()?;
        let prefix = format!(
            "arn:{}:iam::{}:policy{}",
            self.partition, self.account_id, desired.path
        );
        policy.part_number(arn.strip_prefix(&prefix)?)
    }
}

fn is_missing<E: aws_sdk_iam::error::ProvideErrorMetadata>(
    error: &aws_sdk_iam::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool {
    error_code(error) == Some("NoSuchEntity")
}

/// `(partition, account)` of an ARN.
fn arn_account(arn: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6).then(|| (parts[1].to_string(), parts[4].to_string()))
}

pub async fn observe(desired: &Desired, clients: &AccountClients) -> Result<Observed> {
    let role = match clients
        .iam
        .get_role()
        .role_name(&desired.role_name)
        .send()
        .await
    {
        Ok(answer) => answer.role().map(|role| ObservedRole {
            arn: role.arn().to_string(),
            path: role.path().to_string(),
            description: role
                .description()
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            max_session_duration_seconds: role.max_session_duration().unwrap_or(3600),
            permissions_boundary_arn: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            trust: role
                .assume_role_policy_document()
                .and_then(document::decode)
                .inspect(remember_external_ids),
            tags: role
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
        }),
        Err(error) if is_missing(&error) => None,
        Err(error) => return Err(aws_error("IAM", "GetRole", error)),
    };
    let (partition, account_id) = match role.as_ref().and_then(|r| arn_account(&r.arn)) {
        Some(found) => found,
        None => ("aws".to_string(), clients.account_id().await?),
    };
    let mut observed = Observed {
        account_id,
        partition,
        role,
        ..Observed::default()
    };
    if observed.role.is_some() {
        observed.attached = attached_policies(clients, &desired.role_name).await?;
    }
    if let Some(policy) = &desired.policy {
        // The parts attached, and those a split from scratch would have (found here
        // even if an earlier apply stopped before attaching them).
        let parts: BTreeSet<usize> = (1..=policy.min_parts)
            .chain(
                observed
                    .attached
                    .iter()
                    .filter_map(|arn| observed.part_of(desired, arn)),
            )
            .collect();
        for number in parts {
            let arn = observed.part_arn(desired, number).expect("with a policy");
            if let Some(found) = observe_policy(clients, &arn).await? {
                observed.policies.insert(number, found);
            }
        }
    }
    Ok(observed)
}

pub async fn observe_policy(clients: &AccountClients, arn: &str) -> Result<Option<ObservedPolicy>> {
    let policy = match clients.iam.get_policy().policy_arn(arn).send().await {
        Ok(answer) => answer.policy().cloned(),
        Err(error) if is_missing(&error) => None,
        Err(error) => return Err(aws_error("IAM", "GetPolicy", error)),
    };
    let Some(policy) = policy else {
        return Ok(None);
    };
    let default_version = policy.default_version_id().unwrap_or("v1").to_string();
    let version = clients
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(&default_version)
        .send()
        .await
        .map_err(|e| aws_error("IAM", "GetPolicyVersion", e))?;
    Ok(Some(ObservedPolicy {
        arn: arn.to_string(),
        default_version,
        document: version
            .policy_version()
            .and_then(|v| v.document())
            .and_then(document::decode),
        tags: policy
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
    }))
}

/// Every page of `ListAttachedRolePolicies`.
pub async fn attached_policies(
    clients: &AccountClients,
    role_name: &str,
) -> Result<BTreeSet<String>> {
    let mut attached = BTreeSet::new();
    let mut marker = None;
    loop {
        let page = match clients
            .iam
            .list_attached_role_policies()
            .role_name(role_name)
            .set_marker(marker)
            .send()
            .await
        {
            Ok(page) => page,
            Err(error) if is_missing(&error) => return Ok(attached),
            Err(error) => return Err(aws_error("IAM", "ListAttachedRolePolicies", error)),
        };
        attached.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
        marker = page.marker().map(str::to_string);
        if !page.is_truncated() || marker.is_none() {
            return Ok(attached);
        }
    }
}

/// `NoSuchEntity` on a delete means done.
pub fn gone_or<E>(
    operation: &'static str,
    error: aws_sdk_iam::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> Result<()>
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if is_missing(&error) {
        Ok(())
    } else {
        Err::<(), Error>(aws_error("IAM", operation, error))
    }
}

/// The external IDs a live trust policy holds (the current one, or one being rotated
/// away) are secrets too: remembered so that any AWS text quoting them is redacted.
fn remember_external_ids(trust: &Value) {
    external_ids_in(trust)
        .iter()
        .for_each(|id| crate::redact::remember(id));
}

/// The `sts:ExternalId` values of a trust policy's statements, in order.
pub fn external_ids_in(trust: &Value) -> Vec<String> {
    let statements = match trust.get("Statement") {
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
        None => Vec::new(),
    };
    let mut found = Vec::new();
    for statement in &statements {
        match statement.pointer("/Condition/StringEquals/sts:ExternalId") {
            Some(Value::String(id)) => found.push(id.clone()),
            Some(Value::Array(ids)) => {
                found.extend(ids.iter().filter_map(Value::as_str).map(str::to_string))
            }
            _ => {}
        }
    }
    found
}

/// The external ID the live role `role_name` trusts, if the role is `owner`'s (tagged
/// with its namespace/name): what a generated external ID was, when its Secret is gone.
/// One read (GetRole); `None` when there is no such role or it is not the owner's.
pub async fn live_external_id(
    clients: &AccountClients,
    role_name: &str,
    owner: &Owner,
) -> Result<Option<Sensitive>> {
    let role = match clients.iam.get_role().role_name(role_name).send().await {
        Ok(answer) => answer.role().cloned(),
        Err(error) if is_missing(&error) => None,
        Err(error) => return Err(aws_error("IAM", "GetRole", error)),
    };
    let Some(role) = role else { return Ok(None) };
    let owned = role
        .tags()
        .iter()
        .any(|t| t.key() == OWNER_TAG && t.value() == owner.key());
    if !owned {
        return Ok(None);
    }
    let trust = role
        .assume_role_policy_document()
        .and_then(document::decode)
        .unwrap_or_default();
    remember_external_ids(&trust);
    Ok(external_ids_in(&trust).into_iter().next().map(Sensitive))
}
