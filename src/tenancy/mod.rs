//! Tenancy: what a cluster administrator grants each namespace. One installation acts
//! with one strong AWS identity for every namespace it watches; the cluster-scoped
//! [`TenancyPolicy`] (written only by cluster administrators) says, per set of
//! namespaces, which accounts, Regions, roles, names and host access their objects may
//! reach. A namespace no rule selects gets [`Grants::default`]: safe, and still enough
//! for an ordinary vendor role, daemon or group.
//!
//! Enforced twice with the same rules: at admission by the ValidatingAdmissionPolicy of
//! [`admission`] (CEL, the policy object as its parameters), and by the controller before
//! any AWS call ([`Grant`], used by the pipeline and each kind's `desired.rs`).

pub mod admission;
pub mod iam_policy;

use std::sync::Arc;

use kube::CustomResource;
use kube::runtime::reflector::{ObjectRef, Store};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::CommonSpec;
use crate::{Error, Result};

/// The name of the one policy object the controller and the admission policy read.
pub const POLICY_NAME: &str = "ecsfleet";

/// What each set of namespaces may reach through ecsfleet. Only the object named
/// `ecsfleet` is read.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ecsfleet.dev",
    version = "v1alpha1",
    kind = "TenancyPolicy",
    shortname = "tenancy",
    category = "ecsfleet",
    doc = "What each set of namespaces may reach through ecsfleet (only the object named `ecsfleet` is read); written by cluster administrators."
)]
#[serde(rename_all = "camelCase")]
pub struct TenancyPolicySpec {
    /// What a namespace that no rule selects may do. Fields left out keep the safe defaults.
    #[serde(default)]
    pub defaults: Grants,
    /// Sets of namespaces and what each may do; the first rule that selects a namespace
    /// applies (rules do not add up). Keyed by `name` under server-side apply.
    #[serde(default)]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub rules: Vec<TenancyRule>,
}

/// One set of namespaces and what its objects may do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
// Required by the schema (a list-map key must be), read leniently: a policy stored
// before rules had names still reads, so the controller keeps enforcing it.
#[schemars(extend("required" = ["name", "namespaces"]))]
pub struct TenancyRule {
    /// The rule's name, unique within the policy: the key by which server-side apply
    /// merges rules, so that several managers (a GitOps tool, an administrator) can each
    /// own their rules.
    #[serde(default)]
    #[schemars(length(min = 1, max = 63), transform = crate::common::no_stored_default)]
    pub name: String,
    /// Namespace names; a trailing `*` matches every name that starts with what precedes it
    /// (`team-a-*`), `*` alone every namespace.
    #[schemars(length(min = 1))]
    pub namespaces: Vec<String>,
    /// What the namespaces' objects may do. Fields left out keep the safe defaults.
    #[serde(default)]
    pub grants: Grants,
}

/// What objects may reach. Every list holds patterns: a value, or a prefix followed by
/// `*`, or `*` alone for anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Grants {
    /// Regions objects may name in `spec.region` (the operator's own Region, `spec.region`
    /// unset, is always allowed). Default: any.
    #[serde(default = "anything")]
    pub regions: Vec<String>,
    /// Roles objects may name in `spec.assumeRoleArn`. Default: none, so objects act
    /// with the operator's identity (or `assumeRoleArn` below) only.
    #[serde(default)]
    pub assume_role_arns: Vec<String>,
    /// The role the namespace's objects act as when they name none: the team's identity,
    /// chosen by the administrator. Default: the operator's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"))]
    pub assume_role_arn: Option<String>,
    /// Whether `spec.adoptExisting: true` may take over an AWS resource that no ecsfleet
    /// object owns. Default: false.
    #[serde(default)]
    pub allow_adoption: bool,
    /// IntegrationRoles.
    #[serde(default)]
    pub iam: IamGrants,
    /// DaemonServices (and a ScalingGroup's `ecsCluster`).
    #[serde(default)]
    pub ecs: EcsGrants,
    /// ScalingGroups.
    #[serde(default)]
    pub auto_scaling: AutoScalingGrants,
}

/// What IntegrationRoles may create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IamGrants {
    /// Role names (`spec.roleName`, else the object's name). Default: any.
    #[serde(default = "anything")]
    pub role_names: Vec<String>,
    /// IAM paths (`spec.path`, default `/`). Default: any.
    #[serde(default = "anything")]
    pub paths: Vec<String>,
    /// The permissions boundary every role must carry: roles that name none get it, roles
    /// that name another are refused; `""` requires none. Default: AWS's managed
    /// `ReadOnlyAccess`, so that no role can write anything, whatever its statements say.
    #[serde(default = "read_only_boundary")]
    #[schemars(regex(pattern = r"^$|^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+$"))]
    pub permissions_boundary_arn: String,
    /// Managed policies roles may attach (`spec.managedPolicyArns`). Default: AWS's
    /// read-only `SecurityAudit` and `job-function/ViewOnlyAccess`.
    #[serde(default = "read_only_policies")]
    pub managed_policy_arns: Vec<String>,
    /// Whether `spec.policy.allowFullAccess` (`*` on `*`) is allowed. Default: false.
    #[serde(default)]
    pub allow_full_access: bool,
    /// Accounts roles may trust (`spec.trust.principals`, by account ID). Default: any.
    #[serde(default = "anything")]
    pub trusted_accounts: Vec<String>,
    /// AWS service principals roles may trust (`spec.trust.services`, e.g.
    /// `ec2.amazonaws.com`). Default: none.
    #[serde(default)]
    pub trusted_services: Vec<String>,
    /// OIDC providers whose tokens roles may trust (`spec.trust.federated[].providerArn`):
    /// a cluster's own provider would let pods of other namespaces assume the role, or
    /// the namespace's pods reach AWS. Default: none.
    #[serde(default)]
    pub oidc_provider_arns: Vec<String>,
}

/// What DaemonServices may run, and where.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcsGrants {
    /// ECS cluster names (`spec.cluster`, or a ScalingGroup's `spec.ecsCluster`; an ARN is
    /// matched by its name). Default: any.
    #[serde(default = "anything")]
    pub clusters: Vec<String>,
    /// Task roles daemons may run with (`taskRoleArn`). Default: none.
    #[serde(default)]
    pub task_role_arns: Vec<String>,
    /// Execution roles ECS may use for the daemons (`executionRoleArn`). Default: none.
    #[serde(default)]
    pub execution_role_arns: Vec<String>,
    /// What task definitions may ask of the host. Default: `Restricted`.
    #[serde(default)]
    pub host_access: HostAccess,
    /// Load balancers a DaemonService's tasks may register with (`spec.loadBalancers`:
    /// target group ARNs, or Classic load balancer names): registering with another
    /// team's would take its traffic. Default: none.
    #[serde(default)]
    pub load_balancers: Vec<String>,
}

/// What a task definition may ask of the host, in the spirit of Pod Security Standards.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HostAccess {
    /// No privileged containers, no host PID, IPC or network namespace, no host paths,
    /// no added capabilities or devices.
    #[default]
    Restricted,
    /// Anything ECS takes: for agents that watch the host (monitoring, logging, security).
    Privileged,
}

/// What ScalingGroups may create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoScalingGrants {
    /// Group names (`spec.name`, else the object's name). Default: any.
    #[serde(default = "anything")]
    pub group_names: Vec<String>,
    /// Instance profiles the launch template may give instances
    /// (`launchTemplate.iamInstanceProfile`, name or ARN). Default: none.
    #[serde(default)]
    pub instance_profiles: Vec<String>,
    /// Roles lifecycle hooks may have Auto Scaling assume (`lifecycleHooks[].roleArn`).
    /// Default: none.
    #[serde(default)]
    pub lifecycle_hook_role_arns: Vec<String>,
    /// Target groups a group's instances may register with (`targetGroupArns`):
    /// registering with another team's would take its traffic. Default: none.
    #[serde(default)]
    pub target_group_arns: Vec<String>,
}

fn anything() -> Vec<String> {
    vec!["*".to_string()]
}

/// The boundary of roles in namespaces that were granted no other: AWS's own read-only
/// managed policy, which exists in every account.
pub const READ_ONLY_BOUNDARY: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";

fn read_only_boundary() -> String {
    READ_ONLY_BOUNDARY.to_string()
}

fn read_only_policies() -> Vec<String> {
    vec![
        "arn:aws:iam::aws:policy/SecurityAudit".to_string(),
        "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess".to_string(),
    ]
}

impl Default for Grants {
    fn default() -> Self {
        Grants {
            regions: anything(),
            assume_role_arns: Vec::new(),
            assume_role_arn: None,
            allow_adoption: false,
            iam: IamGrants::default(),
            ecs: EcsGrants::default(),
            auto_scaling: AutoScalingGrants::default(),
        }
    }
}

impl Default for IamGrants {
    fn default() -> Self {
        IamGrants {
            role_names: anything(),
            paths: anything(),
            permissions_boundary_arn: read_only_boundary(),
            managed_policy_arns: read_only_policies(),
            allow_full_access: false,
            trusted_accounts: anything(),
            trusted_services: Vec::new(),
            oidc_provider_arns: Vec::new(),
        }
    }
}

impl Default for EcsGrants {
    fn default() -> Self {
        EcsGrants {
            clusters: anything(),
            task_role_arns: Vec::new(),
            execution_role_arns: Vec::new(),
            host_access: HostAccess::Restricted,
            load_balancers: Vec::new(),
        }
    }
}

impl Default for AutoScalingGrants {
    fn default() -> Self {
        AutoScalingGrants {
            group_names: anything(),
            instance_profiles: Vec::new(),
            lifecycle_hook_role_arns: Vec::new(),
            target_group_arns: Vec::new(),
        }
    }
}

impl Grants {
    /// The boundary every role must carry, if one is required.
    pub fn boundary(&self) -> Option<&str> {
        Some(self.iam.permissions_boundary_arn.as_str()).filter(|arn| !arn.is_empty())
    }

    /// Everything allowed: what `tenancy.singleTeam` installs for a cluster with one team.
    pub fn everything() -> Self {
        Grants {
            regions: anything(),
            assume_role_arns: anything(),
            assume_role_arn: None,
            allow_adoption: true,
            iam: IamGrants {
                permissions_boundary_arn: String::new(),
                managed_policy_arns: anything(),
                allow_full_access: true,
                trusted_services: anything(),
                oidc_provider_arns: anything(),
                ..IamGrants::default()
            },
            ecs: EcsGrants {
                task_role_arns: anything(),
                execution_role_arns: anything(),
                host_access: HostAccess::Privileged,
                load_balancers: anything(),
                ..EcsGrants::default()
            },
            auto_scaling: AutoScalingGrants {
                instance_profiles: anything(),
                lifecycle_hook_role_arns: anything(),
                target_group_arns: anything(),
                ..AutoScalingGrants::default()
            },
        }
    }
}

/// Whether `value` matches one of `patterns`: equal to it, or starting with what precedes
/// a trailing `*`.
pub fn allows(patterns: &[String], value: &str) -> bool {
    patterns
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => value.starts_with(prefix),
            None => value == pattern,
        })
}

/// The name of an ECS cluster given by name or ARN.
pub fn cluster_name(cluster: &str) -> &str {
    cluster.rsplit('/').next().unwrap_or(cluster)
}

/// The account of a trust principal: a 12-digit ID, or the account field of an ARN.
pub fn principal_account(principal: &str) -> &str {
    match principal.split(':').nth(4) {
        Some(account) if principal.starts_with("arn:") => account,
        _ => principal,
    }
}

impl TenancyPolicySpec {
    /// The grants of `namespace` and where they come from (`rules[1].grants`).
    fn grant(&self, namespace: &str) -> (Grants, String) {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| allows(&rule.namespaces, namespace))
            .map(|(index, rule)| (rule.grants.clone(), format!("rules[{index}].grants")))
            .unwrap_or_else(|| (self.defaults.clone(), "defaults".to_string()))
    }
}

/// What one namespace may do, and where that was said, to name it in refusals.
#[derive(Clone, Debug, PartialEq)]
pub struct Grant {
    pub grants: Grants,
    /// `TenancyPolicy ecsfleet rules[0].grants`, or the built-in defaults.
    pub source: String,
    /// False when nothing restricts (the CLI with its user's own identity).
    pub restricted: bool,
}

impl Grant {
    /// Refuses `field` unless `allowed`, naming the grant (`rule`, under the grants'
    /// source) that would allow it.
    pub fn require(&self, allowed: bool, field: impl Into<String>, rule: &str) -> Result<()> {
        if allowed || !self.restricted {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            format!("not granted to this namespace ({}: {rule})", self.source),
        ))
    }

    /// Refuses `field` unless one of the patterns of `rule` allows `value`.
    pub fn require_match(
        &self,
        patterns: &[String],
        value: &str,
        field: impl Into<String>,
        rule: &str,
    ) -> Result<()> {
        self.require(allows(patterns, value), field, rule)
    }

    /// The checks of the fields every kind has: Region, identity and adoption.
    pub fn check_common(&self, common: &CommonSpec) -> Result<()> {
        self.check_identity(common)?;
        self.require(
            !common.adopt_existing || self.grants.allow_adoption,
            "spec.adoptExisting",
            "allowAdoption",
        )
    }

    /// The Region and role the object acts in.
    pub fn check_identity(&self, common: &CommonSpec) -> Result<()> {
        let grants = &self.grants;
        if let Some(region) = &common.region {
            self.require_match(&grants.regions, region, "spec.region", "regions")?;
        }
        if let Some(arn) = &common.assume_role_arn {
            self.require(
                grants.assume_role_arn.as_ref() == Some(arn)
                    || allows(&grants.assume_role_arns, arn),
                "spec.assumeRoleArn",
                "assumeRoleArns",
            )?;
        }
        Ok(())
    }

    /// The role the object acts as: its own `assumeRoleArn`, else the namespace's.
    pub fn assume_role_arn(&self, common: &CommonSpec) -> Option<String> {
        common
            .assume_role_arn
            .clone()
            .or_else(|| self.grants.assume_role_arn.clone())
    }
}

/// Where the policy comes from.
#[derive(Clone, Default)]
pub enum Tenancy {
    /// Nothing is restricted: the CLI acting with its user's own AWS identity, given no
    /// TenancyPolicy among its files.
    #[default]
    Unrestricted,
    /// A policy read once (from the CLI's files); `None` means the built-in defaults.
    Fixed(Option<Arc<TenancyPolicy>>),
    /// The controller's watch of the policy object; when it does not exist, the built-in
    /// defaults apply.
    Watched(Store<TenancyPolicy>),
}

impl Tenancy {
    fn policy(&self) -> Option<Arc<TenancyPolicy>> {
        match self {
            Tenancy::Unrestricted => None,
            Tenancy::Fixed(policy) => policy.clone(),
            Tenancy::Watched(store) => store.get(&ObjectRef::new(POLICY_NAME)),
        }
    }

    /// What `namespace` may do.
    pub fn grant(&self, namespace: &str) -> Grant {
        if matches!(self, Tenancy::Unrestricted) {
            return Grant {
                grants: Grants::everything(),
                source: "unrestricted".to_string(),
                restricted: false,
            };
        }
        match self.policy() {
            Some(policy) => {
                let (grants, at) = policy.spec.grant(namespace);
                Grant {
                    grants,
                    source: format!("TenancyPolicy {POLICY_NAME} {at}"),
                    restricted: true,
                }
            }
            None => Grant {
                grants: Grants::default(),
                source: format!("built-in defaults, no TenancyPolicy {POLICY_NAME}"),
                restricted: true,
            },
        }
    }

    /// What identifies the policy's current content, so that a refusal remembered under
    /// one policy is worked out again under the next.
    pub fn revision(&self) -> Option<String> {
        self.policy().map(|policy| {
            policy
                .metadata
                .resource_version
                .clone()
                .unwrap_or_else(|| format!("{:?}", policy.spec))
        })
    }
}

#[cfg(test)]
mod tests;
