//! IntegrationRole: an IAM role that a third party (a monitoring vendor such as Datadog)
//! assumes with a shared external ID, with its permission policy, kept free of drift,
//! and the values a vendor's form asks for handed over in a Secret.
//!
//! Read in order: `api` (the CRD types), this file (the steps wired together), `desired` (spec → validated `Desired`, with
//! the external ID resolved), `observe` (the role, the customer-managed policies and the
//! attachments), `plan` (pure), `apply` (and deletion), `status` (status, the Ready rule
//! and the hand-over Secret). `document` renders and compares policy documents
//! semantically; `split` spreads a permission set over as many policies as it needs.

pub mod api;
pub mod apply;
pub mod desired;
pub mod document;
pub mod observe;
pub mod plan;
pub mod split;
pub mod status;

pub use api::*;

use async_trait::async_trait;
use kube::{Resource, ResourceExt};
use tracing::info;

use crate::aws::Sensitive;
use crate::common::{Owner, SecretKeySelector, namespace_of};
use crate::runtime::triggers;
use crate::runtime::{Env, Intent, Managed, ObjectAws, Outcome, Pipeline, PlannedChange};
use crate::{Error, Result};
use desired::Desired;
use observe::Observed;
use plan::Change;

/// An annotation on an IntegrationRole with `generate: true`: a new value asks for a new
/// external ID (rotation); the trust policy and the hand-over Secret follow in place.
pub const ROTATE_EXTERNAL_ID: &str = "ecsfleet.dev/rotate-external-id";

/// Refuses an external ID STS would refuse (2–1224 characters of letters, digits and
/// `_+=,.@:/-`), naming the field and never the value.
fn validate_external_id(value: &Sensitive, field: &str) -> Result<()> {
    let id = &value.0;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@:/-".contains(c);
    if (2..=1224).contains(&id.chars().count()) && id.chars().all(allowed) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!(
            "the external ID ({} characters) is not one STS accepts: 2–1224 characters of letters, digits and _+=,.@:/-",
            id.chars().count()
        ),
    ))
}

impl IntegrationRole {
    pub fn role_name(&self) -> String {
        match (&self.spec.role_name, &self.spec.role_name_prefix) {
            (Some(name), _) => name.clone(),
            (None, Some(prefix)) => {
                generated_role_name(prefix, &namespace_of(&self.metadata), &self.name_any())
            }
            (None, None) => self.metadata.name.clone().unwrap_or_default(),
        }
    }

    /// The name of the (first) managed policy: `spec.policy.name` or `<roleName>Policy`.
    pub fn policy_base_name(&self) -> String {
        self.spec
            .policy
            .as_ref()
            .and_then(|p| p.name.clone())
            .unwrap_or_else(|| format!("{}Policy", self.role_name()))
    }

    pub fn owner(&self) -> Owner {
        Owner::from_meta(&self.metadata)
    }

    /// The Secret a generated external ID lives in.
    pub fn generated_secret_name(&self) -> String {
        format!(
            "{}-external-id",
            self.metadata.name.clone().unwrap_or_default()
        )
    }

    /// The external ID's value, and the name of the Secret it is in.
    async fn external_id(&self, env: &Env) -> Result<Option<(Sensitive, String)>> {
        let namespace = namespace_of(&self.metadata);
        match &self.spec.trust.external_id {
            None => Ok(None),
            Some(ExternalIdSpec {
                secret_ref: Some(selector),
                ..
            }) => {
                let field = "spec.trust.externalId.secretRef";
                let value = env.secrets.read(&namespace, selector, field).await?;
                validate_external_id(&value, field)?;
                Ok(Some((value, selector.name.clone())))
            }
            Some(ExternalIdSpec { generate: true, .. }) => {
                let name = self.generated_secret_name();
                let rotation = self.annotations().get(ROTATE_EXTERNAL_ID);
                // A lost Secret does not lose the ID the vendor was given: the role still
                // trusts it, and the Secret is made again with that value.
                let recover = async {
                    let aws = env.object_aws(self).await?;
                    let found =
                        observe::live_external_id(&aws.clients, &self.role_name(), &self.owner())
                            .await?;
                    if found.is_some() {
                        info!(secret = %name, "the generated external ID's Secret is gone: made again with the ID the role trusts");
                    }
                    Ok(found)
                };
                let value = env
                    .secrets
                    .generated(
                        &namespace,
                        &name,
                        "externalId",
                        self.owner_reference(),
                        rotation.map(String::as_str),
                        recover,
                        "spec.trust.externalId.generate",
                    )
                    .await?;
                validate_external_id(&value, "spec.trust.externalId.generate")?;
                Ok(Some((value, name)))
            }
            Some(_) => Err(Error::invalid(
                "spec.trust.externalId",
                "set exactly one of secretRef and generate: true",
            )),
        }
    }

    /// An owner reference to this object, so that its Secrets are garbage-collected.
    fn owner_reference(
        &self,
    ) -> Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference> {
        self.controller_owner_ref(&())
    }
}

#[async_trait]
impl Managed for IntegrationRole {
    type Status = IntegrationRoleStatus;
    type Shared = ();
    type Desired = Desired;
    type Observed = Observed;
    type Change = Change;

    crate::common_fields!(IntegrationRoleStatus);

    fn check_grant(&self, grant: &crate::tenancy::Grant) -> Result<()> {
        desired::check_grant(self, grant)
    }

    async fn desired(&self, env: &Env, intent: Intent) -> Result<Desired> {
        let mut desired = Desired::from_spec(self)?;
        if desired.permissions_boundary_arn.is_none() {
            // Every role carries the boundary the namespace requires.
            let grants = env.grant(self).grants;
            desired.permissions_boundary_arn = grants.boundary().map(str::to_string);
        }
        match intent {
            Intent::Plan => desired.external_id = self.external_id_for_plan(env).await?,
            Intent::Apply => {
                // Refuse before any AWS write what cannot be finished (the CLI writes no
                // Secret).
                if desired.output_secret_name.is_some() {
                    env.secrets.ensure_writable("spec.outputSecretName")?;
                }
                if let Some((value, secret_name)) = self.external_id(env).await? {
                    desired.external_id = Some(value);
                    desired.external_id_secret_name = Some(secret_name);
                }
            }
        }
        Ok(desired)
    }

    async fn observe(
        &self,
        desired: &Desired,
        _pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Observed> {
        observe::observe(desired, &aws.clients).await
    }

    fn plan(desired: &Desired, observed: &Observed) -> Result<Vec<Change>> {
        plan::plan(desired, observed)
    }

    async fn apply(
        &self,
        desired: &Desired,
        observed: Observed,
        changes: &[Change],
        pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Outcome<IntegrationRoleStatus>> {
        let clients = &aws.clients;
        let mut applied = apply::apply(desired, &observed, changes, clients).await?;
        let after = if changes.is_empty() {
            observed
        } else {
            observe::observe(desired, clients).await?
        };
        if let Some(secret) = &desired.output_secret_name {
            let data = status::output_secret_data(desired, &after);
            if pipeline
                .env
                .secrets
                .write_owned(
                    &namespace_of(&self.metadata),
                    secret,
                    data,
                    self.owner_reference(),
                    "spec.outputSecretName",
                )
                .await?
            {
                applied.push(PlannedChange {
                    action: "WriteOutputSecret".into(),
                    target: format!("secret/{secret}"),
                    detail: "accountId, roleName, roleArn, externalId".into(),
                });
            }
        }
        Ok(status::outcome(desired, &after, applied))
    }

    async fn delete(
        &self,
        _pipeline: &Pipeline<Self>,
        aws: &ObjectAws,
    ) -> Result<Vec<PlannedChange>> {
        apply::delete(self, &aws.clients).await
    }
}

impl IntegrationRole {
    /// For `plan`: the external ID if it can be read without writing anything (a
    /// generated one is read only if it exists already).
    async fn external_id_for_plan(&self, env: &Env) -> Result<Option<Sensitive>> {
        match &self.spec.trust.external_id {
            Some(ExternalIdSpec { generate: true, .. }) => {
                let selector = SecretKeySelector {
                    name: self.generated_secret_name(),
                    key: "externalId".into(),
                };
                Ok(env
                    .secrets
                    .read(
                        &namespace_of(&self.metadata),
                        &selector,
                        "spec.trust.externalId.generate",
                    )
                    .await
                    .ok())
            }
            _ => Ok(self.external_id(env).await?.map(|(value, _)| value)),
        }
    }
}

impl triggers::Concerns for IntegrationRole {
    fn concerns(&self, trigger: &triggers::Trigger, _default_region: Option<&str>) -> bool {
        match trigger {
            triggers::Trigger::Role { role } => *role == self.role_name(),
            // `<name>` or one of its parts `<name>-N`.
            triggers::Trigger::Policy { arn } => {
                let name = arn.rsplit('/').next().unwrap_or_default();
                let base = self.policy_base_name();
                name == base
                    || name
                        .strip_prefix(&base)
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|n| n.parse::<usize>().is_ok())
            }
            _ => false,
        }
    }
}

/// `prefix` and 26 hex characters of the SHA-256 of `namespace/name`: one name per object,
/// the same at every reconcile, within IAM's 64 characters for a prefix of up to 38.
pub fn generated_role_name(prefix: &str, namespace: &str, name: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{namespace}/{name}").as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{}", &hex[..26])
}
