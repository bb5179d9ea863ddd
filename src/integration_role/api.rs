//! The IntegrationRole API: the custom resource's types, from which its CRD is generated
//! (`ecsfleet crds`). Every field's doc comment is what `kubectl explain` shows.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CommonSpec, CommonStatus, SecretKeySelector};

/// An IAM role that a third party assumes with a shared external ID, with its policy.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecsfleet.dev",
    version = "v1alpha1",
    kind = "IntegrationRole",
    doc = "An IAM role that a third party (e.g. a monitoring vendor) assumes with a shared external ID, with its permission policy, kept free of drift; the account ID, role name and external ID are handed over in a Secret.",
    namespaced,
    shortname = "irole",
    category = "ecsfleet",
    status = "IntegrationRoleStatus",
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".status.roleArn"}"#,
    printcolumn = r#"{"name":"Account","type":"string","jsonPath":".status.accountId"}"#,
    printcolumn = r#"{"name":"Policies","type":"integer","jsonPath":".status.policyCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.roleName) == has(oldSelf.roleName) && (!has(self.roleName) || self.roleName == oldSelf.roleName)",
     "message": "spec.roleName is immutable"},
    {"rule": "has(self.roleNamePrefix) == has(oldSelf.roleNamePrefix) && (!has(self.roleNamePrefix) || self.roleNamePrefix == oldSelf.roleNamePrefix)",
     "message": "spec.roleNamePrefix is immutable"},
    {"rule": "!has(self.roleName) || !has(self.roleNamePrefix)",
     "message": "set at most one of spec.roleName and spec.roleNamePrefix"},
    {"rule": "(has(self.path) ? self.path : '/') == (has(oldSelf.path) ? oldSelf.path : '/')",
     "message": "spec.path is immutable: IAM cannot move a role"},
    {"rule": "!has(self.tags) || self.tags.all(k, !k.startsWith('ecsfleet.dev/'))",
     "message": "spec.tags: keys under ecsfleet.dev/ are reserved"}
]))]
pub struct IntegrationRoleSpec {
    /// Name of the IAM role. Defaults to `metadata.name`. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[\w+=,.@-]{1,64}$"))]
    pub role_name: Option<String>,
    /// A prefix for a generated role name, instead of `roleName`: the prefix and 26
    /// characters derived from the object's namespace and name, the same for the
    /// object's whole life (`status.roleArn` and the hand-over Secret show it). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[\w+=,.@-]{1,38}$"))]
    pub role_name_prefix: Option<String>,
    /// IAM path of the role and its policy (default `/`). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^/([\x21-\x7E]+/)?$"), length(max = 512))]
    pub path: Option<String>,
    /// Description of the role (at most 1,000 characters: printable Latin-1, tabs and line
    /// breaks, as IAM takes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[\t\n\r\x{20}-\x{7E}\x{A1}-\x{FF}]*$"),
        length(max = 1000)
    )]
    pub description: Option<String>,
    /// Longest session the third party may get, in seconds (3600–43200, default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 3600, max = 43200))]
    pub max_session_duration_seconds: Option<i32>,
    /// A managed policy that bounds the role's permissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$"))]
    pub permissions_boundary_arn: Option<String>,
    /// Tags on the role and the policy, besides the ownership tags (at most 48: IAM
    /// allows 50 a resource, ecsfleet adds two).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 48, "additionalProperties" = {"type": "string", "maxLength": 256}))]
    pub tags: BTreeMap<String, String>,
    /// Who may assume the role, and with which external ID.
    pub trust: TrustSpec,
    /// The customer-managed permission policy created for and attached to the role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySpec>,
    /// How many managed policies IAM lets this account attach to one role: 10 by
    /// default, up to 20 after a quota increase. The policies the permission set is
    /// split into and `managedPolicyArns` together must fit; a spec that cannot is refused
    /// before any write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub attached_policy_quota: Option<u32>,
    /// Further managed policies to attach, e.g. `arn:aws:iam::aws:policy/SecurityAudit`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub managed_policy_arns: Vec<String>,
    /// A Secret the operator writes (owned by this object) with `accountId`, `roleName`,
    /// `roleArn` and `externalId`: the values a vendor's integration form asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"),
        length(max = 253)
    )]
    pub output_secret_name: Option<String>,
    #[serde(flatten)]
    pub common: CommonSpec,
}

/// The trust policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.principals) || size(self.principals) == 0 || has(self.externalId) || (has(self.allowWithoutExternalId) && self.allowWithoutExternalId)",
     "message": "spec.trust.externalId is required unless spec.trust.allowWithoutExternalId is true"},
    {"rule": "(has(self.principals) && size(self.principals) > 0) || (has(self.services) && size(self.services) > 0) || (has(self.federated) && size(self.federated) > 0)",
     "message": "spec.trust names nobody: set principals, services or federated"}
]))]
pub struct TrustSpec {
    /// AWS account IDs or IAM/STS principal ARNs allowed to assume the role. A 12-digit
    /// account ID means `arn:aws:iam::<id>:root`. They present the external ID.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    pub principals: Vec<String>,
    /// AWS service principals allowed to assume the role, e.g. `ec2.amazonaws.com`
    /// (no external ID applies to a service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 20),
        inner(regex(pattern = r"^[a-z0-9-]+(\.[a-z0-9-]+)*\.amazonaws\.com(\.cn)?$"))
    )]
    pub services: Vec<String>,
    /// OIDC identity providers whose tokens may assume the role
    /// (`sts:AssumeRoleWithWebIdentity`), e.g. an EKS cluster's for IRSA, limited to
    /// token subjects and audiences.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 10))]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["providerArn"]))]
    pub federated: Vec<FederatedTrust>,
    /// Further conditions on the principals' assumption, operator → condition key →
    /// values, next to the external ID's: e.g. `{StringEquals: {"aws:PrincipalOrgID":
    /// [o-a1b2c3]}}`, `{ArnLike: {"aws:PrincipalArn": [...]}}`, `{Bool:
    /// {"aws:MultiFactorAuthPresent": ["true"]}}`, `{IpAddress: {"aws:SourceIp": [...]}}`,
    /// `{StringLike: {"sts:SourceIdentity": [...]}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 20))]
    pub conditions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Trust actions besides `sts:AssumeRole` (and `sts:AssumeRoleWithWebIdentity` for
    /// `federated`): `sts:TagSession`, `sts:SetSourceIdentity`, `sts:SetContext`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 3),
        inner(regex(pattern = r"^sts:(TagSession|SetSourceIdentity|SetContext)$"))
    )]
    pub actions: Vec<String>,
    /// The shared secret the principals must present (`sts:ExternalId`). It never appears
    /// in status, events, logs or error messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<ExternalIdSpec>,
    /// Allow assuming the role without an external ID (not recommended for third parties).
    #[serde(default)]
    pub allow_without_external_id: bool,
}

/// An OIDC provider's tokens that may assume the role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FederatedTrust {
    /// The IAM OIDC provider, `arn:aws:iam::<account>:oidc-provider/<issuer>`.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/.+$"))]
    pub provider_arn: String,
    /// Token subjects (`<issuer>:sub`) allowed, e.g.
    /// `system:serviceaccount:<namespace>:<name>`; `*` and `?` are wildcards.
    #[schemars(length(min = 1, max = 20), inner(length(min = 1)))]
    pub subjects: Vec<String>,
    /// Token audiences (`<issuer>:aud`) allowed (default `[sts.amazonaws.com]`).
    #[serde(default = "sts_audience")]
    #[schemars(length(min = 1, max = 20))]
    pub audiences: Vec<String>,
}

fn sts_audience() -> Vec<String> {
    vec!["sts.amazonaws.com".to_string()]
}

/// Where the external ID comes from: exactly one of `secretRef` and `generate: true`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.secretRef) != (has(self.generate) && self.generate)",
     "message": "set exactly one of spec.trust.externalId.secretRef and spec.trust.externalId.generate: true"}
]))]
pub struct ExternalIdSpec {
    /// A key of a Secret in this namespace that holds the external ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// Let the operator create a random external ID (40 characters from a CSPRNG) in a
    /// Secret `<name>-external-id` owned by this object, and reuse it ever after.
    #[serde(default)]
    pub generate: bool,
}

/// The permission policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.statements) || has(self.document)",
     "message": "spec.policy needs statements, a document, or both"},
    {"rule": "!has(self.statements) || self.statements.all(s, !has(s.sid) || self.statements.filter(t, has(t.sid) && t.sid == s.sid).size() == 1)",
     "message": "spec.policy.statements: statement Sids must be unique"},
    {"rule": "(has(self.allowFullAccess) && self.allowFullAccess) || !has(self.statements) || !self.statements.exists(s, (!has(s.effect) || s.effect == 'Allow') && s.actions.exists(a, a == '*') && (!has(s.resources) || size(s.resources) == 0 || s.resources.exists(r, r == '*')))",
     "message": "spec.policy.statements: a statement allows every action on every resource; set spec.policy.allowFullAccess: true if that is really meant"}
]))]
pub struct PolicySpec {
    /// Name of the managed policy (default `<roleName>Policy`). A permission set larger
    /// than one policy is split across `<name>`, `<name>-2`, `<name>-3`, … (at most 125
    /// characters, so that every name stays within IAM's 128).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[\w+=,.@-]{1,125}$"))]
    pub name: Option<String>,
    /// The statements, of any total size: IAM allows 6,144 characters in one managed
    /// policy, so a larger set is split across several, each grant in exactly one. A
    /// change creates a new default version of the policies it touches only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1, max = 100))]
    pub statements: Vec<StatementSpec>,
    /// A policy document as published (`{"Version": ..., "Statement": [...]}`), taken as
    /// given: `Action` or `NotAction`, `Resource` or `NotResource`, conditions of every
    /// IAM operator. Checked as IAM checks an identity-based policy and split across
    /// policies like `statements` (a `NotAction` statement stays whole). With
    /// `statements`, both apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "policy_document")]
    pub document: Option<serde_json::Value>,
    /// Allow a statement that allows action `*` on resource `*` (refused otherwise).
    #[serde(default)]
    pub allow_full_access: bool,
}

/// One statement of the permission policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatementSpec {
    /// Statement ID (letters and digits, at most 128), unique within the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9]+$"), length(max = 128))]
    pub sid: Option<String>,
    /// `Allow` (default) or `Deny`.
    #[serde(default)]
    #[schemars(transform = crate::common::no_stored_default)]
    pub effect: Effect,
    /// Actions shaped `service:Action`; `*` and `?` wildcards allowed (at most 2,000
    /// a statement, each at most 128 characters; a larger set is several statements).
    #[schemars(length(min = 1, max = 2000), inner(length(max = 128)))]
    pub actions: Vec<String>,
    /// Resources: `*` or ARNs (default `["*"]`; 1–100, each at most 2,048 characters). An
    /// empty list is refused: it must never read as every resource.
    #[serde(default = "all_resources")]
    #[schemars(length(min = 1, max = 100), inner(length(max = 2048)))]
    #[schemars(transform = crate::common::no_stored_default)]
    pub resources: Vec<String>,
    /// Conditions: operator → condition key → values, e.g.
    /// `{StringEquals: {"aws:RequestedRegion": ["eu-west-1"]}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
}

/// A policy document: IAM's JSON, checked by ecsfleet (`document::document_statements`).
fn policy_document(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

fn all_resources() -> Vec<String> {
    vec!["*".to_string()]
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum Effect {
    #[default]
    Allow,
    Deny,
}

/// What the operator last saw of the role.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationRoleStatus {
    /// ARN of the IAM role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The bare 12-digit account ID of the role, as vendors' forms ask for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// The first permission policy (`policies` lists every one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    /// The first permission policy's default version, e.g. `v3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<String>,
    /// Every customer-managed policy the permission set is split into, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<PolicyStatus>,
    /// How many customer-managed policies hold the permission set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_count: Option<u32>,
    /// Every managed policy attached to the role: the permission policies and `managedPolicyArns`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_policy_arns: Vec<String>,
    /// The Secret holding the external ID (its name; never the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id_secret_name: Option<String>,
    #[serde(flatten)]
    pub common: CommonStatus,
}

/// One of the role's permission policies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// The policy's ARN.
    pub arn: String,
    /// Its default version, e.g. `v2`.
    pub version: String,
}
