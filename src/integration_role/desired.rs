//! The desired state: the spec validated (every refusal names its field) and, once
//! resolved, the external ID. Validation is pure and runs before any AWS call.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::document::{self, MANAGED_POLICY_MAX_CHARS, Statement};
use super::split::Permissions;
use super::{Effect, ExternalIdSpec, IntegrationRole, PolicySpec};
use crate::aws::Sensitive;
use crate::common::Owner;
use crate::tenancy::{Grant, principal_account};
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
    /// Who may assume the role (principal ARNs normalized), without the external ID.
    pub trust: document::Trust,
    /// Whether the trust policy requires an external ID.
    pub requires_external_id: bool,
    pub policy: Option<DesiredPolicy>,
    pub managed_policy_arns: BTreeSet<String>,
    /// `spec.managedPolicyArns` in the spec's order, to name an entry's field.
    pub managed_policy_order: Vec<String>,
    pub output_secret_name: Option<String>,
    /// The external ID's value, once resolved from its Secret (never printed).
    pub external_id: Option<Sensitive>,
    /// The name of the Secret the external ID is in (for status; never the value).
    pub external_id_secret_name: Option<String>,
    pub adopt_existing: bool,
    /// The spec has not changed since the last successful sync.
    pub spec_unchanged: bool,
}

/// The permission set, split across as many customer-managed policies as it needs.
#[derive(Clone, Debug, PartialEq)]
pub struct DesiredPolicy {
    /// The first policy's name; the others are `<name>-2`, `<name>-3`, ….
    pub name: String,
    pub permissions: Permissions,
    /// How many policies a split from scratch needs.
    pub min_parts: usize,
    /// How many the role may have: the quota less `managedPolicyArns`.
    pub max_parts: usize,
}

impl DesiredPolicy {
    /// The name of part `number`.
    pub fn part_name(&self, number: usize) -> String {
        part_name(&self.name, number)
    }

    /// The part number of a policy called `name`, if it is one of ours.
    pub fn part_number(&self, name: &str) -> Option<usize> {
        part_number(&self.name, name)
    }
}

/// The name of part `number` of the policy called `base`.
pub fn part_name(base: &str, number: usize) -> String {
    match number {
        1 => base.to_string(),
        n => format!("{base}-{n}"),
    }
}

/// The part number of a policy called `name`, if it is a part of `base`.
pub fn part_number(base: &str, name: &str) -> Option<usize> {
    if name == base {
        return Some(1);
    }
    let number: usize = name.strip_prefix(base)?.strip_prefix('-')?.parse().ok()?;
    (2..=MAX_ATTACHED_POLICY_QUOTA)
        .contains(&number)
        .then_some(number)
        .filter(|n| part_name(base, *n) == name)
}

/// IAM's default quota of managed policies attached to one role.
pub const DEFAULT_ATTACHED_POLICY_QUOTA: usize = 10;
/// The highest quota IAM grants on request.
pub const MAX_ATTACHED_POLICY_QUOTA: usize = 20;
/// IAM's limit on a policy name.
const POLICY_NAME_MAX: usize = 128;

impl Desired {
    /// Validates the spec; everything is checked here too because the CLI reads files
    /// that no API server has seen.
    pub fn from_spec(obj: &IntegrationRole) -> Result<Desired> {
        let spec = &obj.spec;
        if spec.role_name.is_some() && spec.role_name_prefix.is_some() {
            return Err(Error::invalid(
                "spec.roleNamePrefix",
                "set at most one of spec.roleName and spec.roleNamePrefix",
            ));
        }
        if let Some(prefix) = &spec.role_name_prefix
            && (prefix.is_empty() || prefix.len() > 38)
        {
            return Err(Error::invalid(
                "spec.roleNamePrefix",
                "1–38 characters, so that the generated name stays within IAM's 64",
            ));
        }
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
        let trust = &spec.trust;
        if trust.principals.is_empty() && trust.services.is_empty() && trust.federated.is_empty() {
            return Err(Error::invalid(
                "spec.trust",
                "names nobody: set principals, services or federated",
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
            None if spec.trust.allow_without_external_id || trust.principals.is_empty() => false,
            None => {
                return Err(Error::invalid(
                    "spec.trust.externalId",
                    "is required unless spec.trust.allowWithoutExternalId is true",
                ));
            }
        };
        let trust = desired_trust(trust, principals)?;
        let quota = spec
            .attached_policy_quota
            .map_or(DEFAULT_ATTACHED_POLICY_QUOTA, |q| q as usize);
        if !(1..=MAX_ATTACHED_POLICY_QUOTA).contains(&quota) {
            return Err(Error::invalid(
                "spec.attachedPolicyQuota",
                format!("must be 1–{MAX_ATTACHED_POLICY_QUOTA} (IAM's highest quota)"),
            ));
        }
        if spec.managed_policy_arns.len() > quota {
            return Err(Error::invalid(
                "spec.managedPolicyArns",
                format!(
                    "{} policies, over the role's quota of {quota} attached policies",
                    spec.managed_policy_arns.len()
                ),
            ));
        }
        let policy = match &spec.policy {
            None => None,
            Some(policy) => Some(desired_policy(
                policy,
                &role_name,
                quota,
                spec.managed_policy_arns.len(),
            )?),
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
            trust,
            requires_external_id,
            policy,
            managed_policy_arns: spec.managed_policy_arns.iter().cloned().collect(),
            managed_policy_order: spec.managed_policy_arns.clone(),
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
        self.trust.render(external_id)
    }
}

/// The trust beyond the principals: services, OIDC providers, conditions and actions,
/// each checked as IAM would.
fn desired_trust(spec: &super::TrustSpec, principals: Vec<String>) -> Result<document::Trust> {
    const FIELD: &str = "spec.trust";
    for (index, service) in spec.services.iter().enumerate() {
        let name = service
            .strip_suffix(".amazonaws.com")
            .or_else(|| service.strip_suffix(".amazonaws.com.cn"));
        let valid = name.is_some_and(|n| {
            !n.is_empty()
                && n.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                })
        });
        if !valid {
            return Err(Error::invalid(
                format!("{FIELD}.services[{index}]"),
                format!("{service:?} is not an AWS service principal (e.g. ec2.amazonaws.com)"),
            ));
        }
    }
    let mut federated = Vec::new();
    let mut providers = BTreeSet::new();
    for (index, f) in spec.federated.iter().enumerate() {
        let at = format!("{FIELD}.federated[{index}]");
        let issuer = f.provider_arn.split_once(":oidc-provider/");
        let valid = issuer.is_some_and(|(head, issuer)| {
            let parts: Vec<&str> = head.split(':').collect();
            parts.len() == 5
                && parts[0] == "arn"
                && parts[2] == "iam"
                && parts[4].len() == 12
                && parts[4].chars().all(|c| c.is_ascii_digit())
                && !issuer.is_empty()
        });
        if !valid {
            return Err(Error::invalid(
                format!("{at}.providerArn"),
                "is not an IAM OIDC provider ARN (arn:aws:iam::<account>:oidc-provider/<issuer>)",
            ));
        }
        if !providers.insert(f.provider_arn.as_str()) {
            return Err(Error::invalid(
                format!("{at}.providerArn"),
                "is named twice",
            ));
        }
        for (key, values) in [("subjects", &f.subjects), ("audiences", &f.audiences)] {
            if values.is_empty() || values.iter().any(String::is_empty) {
                return Err(Error::invalid(
                    format!("{at}.{key}"),
                    "needs at least one value, none empty: a provider's every token must never assume the role",
                ));
            }
        }
        federated.push(document::Federated {
            provider_arn: f.provider_arn.clone(),
            subjects: f.subjects.clone(),
            audiences: f.audiences.clone(),
        });
    }
    let conditions = conditions(&spec.conditions, &format!("{FIELD}.conditions"))?;
    if let Some(operator) = conditions
        .iter()
        .find_map(|(operator, keys)| keys.contains_key("sts:ExternalId").then_some(operator))
    {
        return Err(Error::invalid(
            format!("{FIELD}.conditions.{operator}.sts:ExternalId"),
            "the external ID is spec.trust.externalId",
        ));
    }
    const ACTIONS: [&str; 3] = ["sts:TagSession", "sts:SetSourceIdentity", "sts:SetContext"];
    let mut actions = Vec::new();
    for (index, action) in spec.actions.iter().enumerate() {
        if !ACTIONS.contains(&action.as_str()) {
            return Err(Error::invalid(
                format!("{FIELD}.actions[{index}]"),
                format!(
                    "{action:?} is not a trust action ecsfleet adds (one of {})",
                    ACTIONS.join(", ")
                ),
            ));
        }
        if !actions.contains(action) {
            actions.push(action.clone());
        }
    }
    Ok(document::Trust {
        principals,
        services: spec.services.clone(),
        federated,
        conditions,
        actions,
    })
}

/// A condition block (operator → key → values) as IAM takes it: operators IAM has, at
/// least one value a key; `field` names the block.
fn conditions(
    given: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
    field: &str,
) -> Result<BTreeMap<String, BTreeMap<String, Value>>> {
    given
        .iter()
        .map(|(operator, keys)| {
            let at = format!("{field}.{operator}");
            if !document::is_condition_operator(operator) {
                return Err(Error::invalid(
                    at,
                    "is not an IAM condition operator (e.g. StringEquals, ArnLike, Bool, IpAddress, with IfExists or ForAllValues:/ForAnyValue:)",
                ));
            }
            let keys = keys
                .iter()
                .map(|(key, values)| {
                    if values.is_empty() {
                        return Err(Error::invalid(format!("{at}.{key}"), "needs at least one value"));
                    }
                    Ok((key.clone(), serde_json::json!(values)))
                })
                .collect::<Result<_>>()?;
            Ok((operator.clone(), keys))
        })
        .collect()
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
    if spec.resources.is_empty() {
        return Err(Error::invalid(
            format!("{field}.resources"),
            "an empty list is refused (it must never read as every resource): leave it out for \"*\", or name the resources",
        ));
    }
    for (i, resource) in spec.resources.iter().enumerate() {
        if resource != "*" && !resource.starts_with("arn:") {
            return Err(Error::invalid(
                format!("{field}.resources[{i}]"),
                format!("{resource:?} is neither \"*\" nor an ARN"),
            ));
        }
    }
    let conditions = conditions(&spec.conditions, &format!("{field}.conditions"))?;
    let resources = spec.resources.clone();
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
        conditions,
    })
}

/// The permission policy: statements validated, the split sized against the quota.
fn desired_policy(
    policy: &PolicySpec,
    role_name: &str,
    quota: usize,
    managed: usize,
) -> Result<DesiredPolicy> {
    let statements = policy
        .statements
        .iter()
        .enumerate()
        .map(|(index, s)| statement(index, s, policy.allow_full_access))
        .collect::<Result<Vec<_>>>()?;
    let published = match &policy.document {
        Some(given) => {
            document::document_statements(given, "spec.policy.document", policy.allow_full_access)?
        }
        None => Vec::new(),
    };
    if statements.is_empty() && published.is_empty() {
        return Err(Error::invalid(
            "spec.policy.statements",
            "at least one statement is required (in statements or document)",
        ));
    }
    let mut sids = BTreeSet::new();
    for (index, s) in statements.iter().enumerate() {
        if let Some(sid) = &s.sid
            && !sids.insert(sid.as_str())
        {
            return Err(Error::invalid(
                format!("spec.policy.statements[{index}].sid"),
                format!("{sid:?} is used by an earlier statement; IAM needs each Sid once"),
            ));
        }
    }
    // Sids are unique across both forms: IAM needs each once in a policy.
    for (index, s) in published.iter().enumerate() {
        if let Some(sid) = s.get("Sid").and_then(Value::as_str)
            && !sids.insert(sid)
        {
            return Err(Error::invalid(
                format!("spec.policy.document.Statement[{index}].Sid"),
                format!("{sid:?} is used by an earlier statement; IAM needs each Sid once"),
            ));
        }
    }
    let fields: Vec<String> = (0..statements.len())
        .map(|index| format!("spec.policy.statements[{index}]"))
        .chain((0..published.len()).map(|index| format!("spec.policy.document.Statement[{index}]")))
        .collect();
    let rendered: Vec<Value> = statements
        .iter()
        .map(document::render_statement)
        .chain(published.iter().cloned())
        .collect();
    let permissions = Permissions::new(&rendered);
    for (field, statement) in fields.iter().zip(&rendered) {
        let shape = super::split::shape_of(statement);
        let size = permissions.smallest_part_size(&shape);
        if size > MANAGED_POLICY_MAX_CHARS {
            return Err(Error::invalid(
                field,
                format!(
                    "a policy with one action of this statement has {size} characters; IAM allows {MANAGED_POLICY_MAX_CHARS} in a managed policy (fewer resources or conditions)"
                ),
            ));
        }
    }
    let name = policy
        .name
        .clone()
        .unwrap_or_else(|| format!("{role_name}Policy"));
    let suffix = format!("-{MAX_ATTACHED_POLICY_QUOTA}").len();
    if name.len() + suffix > POLICY_NAME_MAX {
        return Err(Error::invalid(
            "spec.policy.name",
            format!(
                "at most {} characters, so that `<name>-N` stays within IAM's {POLICY_NAME_MAX}",
                POLICY_NAME_MAX - suffix
            ),
        ));
    }
    let min_parts = permissions.pack().len();
    if min_parts + managed > quota {
        return Err(Error::invalid(
            "spec.policy.statements",
            format!(
                "the permissions need {min_parts} managed policies of at most {MANAGED_POLICY_MAX_CHARS} characters and spec.managedPolicyArns has {managed}: {} attached policies, over the role's quota of {quota} (spec.attachedPolicyQuota, if the account's quota was raised)",
                min_parts + managed
            ),
        ));
    }
    Ok(DesiredPolicy {
        name,
        permissions,
        min_parts,
        max_parts: quota - managed,
    })
}

/// What the namespace's [`Grant`] allows of the role: name, path, boundary, attached
/// policies, full access and the accounts it trusts (the same rules as at admission).
pub fn check_grant(obj: &IntegrationRole, grant: &Grant) -> Result<()> {
    let spec = &obj.spec;
    let iam = &grant.grants.iam;
    match &spec.role_name_prefix {
        // Every name the prefix may generate must be granted: a pattern ending in `*`
        // whose head the prefix starts with (as at admission).
        Some(prefix) if spec.role_name.is_none() => grant.require(
            iam.role_names.iter().any(|pattern| {
                pattern
                    .strip_suffix('*')
                    .is_some_and(|head| prefix.starts_with(head))
            }),
            "spec.roleNamePrefix",
            "iam.roleNames",
        )?,
        _ => grant.require_match(
            &iam.role_names,
            &obj.role_name(),
            "spec.roleName",
            "iam.roleNames",
        )?,
    }
    let path = spec.path.as_deref().unwrap_or("/");
    grant.require_match(&iam.paths, path, "spec.path", "iam.paths")?;
    if let (Some(required), Some(given)) = (grant.grants.boundary(), &spec.permissions_boundary_arn)
    {
        grant.require(
            required == given,
            "spec.permissionsBoundaryArn",
            "iam.permissionsBoundaryArn",
        )?;
    }
    for (index, arn) in spec.managed_policy_arns.iter().enumerate() {
        grant.require_match(
            &iam.managed_policy_arns,
            arn,
            format!("spec.managedPolicyArns[{index}]"),
            "iam.managedPolicyArns",
        )?;
    }
    let full_access = spec.policy.as_ref().is_some_and(|p| p.allow_full_access);
    grant.require(
        !full_access || iam.allow_full_access,
        "spec.policy.allowFullAccess",
        "iam.allowFullAccess",
    )?;
    for (index, principal) in spec.trust.principals.iter().enumerate() {
        grant.require_match(
            &iam.trusted_accounts,
            principal_account(principal),
            format!("spec.trust.principals[{index}]"),
            "iam.trustedAccounts",
        )?;
    }
    for (index, service) in spec.trust.services.iter().enumerate() {
        grant.require_match(
            &iam.trusted_services,
            service,
            format!("spec.trust.services[{index}]"),
            "iam.trustedServices",
        )?;
    }
    for (index, federated) in spec.trust.federated.iter().enumerate() {
        grant.require_match(
            &iam.oidc_provider_arns,
            &federated.provider_arn,
            format!("spec.trust.federated[{index}].providerArn"),
            "iam.oidcProviderArns",
        )?;
    }
    Ok(())
}
