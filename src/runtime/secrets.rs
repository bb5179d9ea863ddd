//! Reading Secret values, from the cluster or (for the CLI) from the files given.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::Api;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};

use crate::aws::Sensitive;
use crate::common::SecretKeySelector;
use crate::{Error, FIELD_MANAGER, Result};

#[derive(Clone)]
pub enum Secrets {
    /// Read from the API server.
    Cluster(kube::Client),
    /// Secrets found in the files given to the CLI, by (namespace, name).
    Files(BTreeMap<(String, String), Secret>),
}

impl Secrets {
    /// The value at `selector`, for the field `field` (named in errors; the value never is).
    pub async fn read(
        &self,
        namespace: &str,
        selector: &SecretKeySelector,
        field: &str,
    ) -> Result<Sensitive> {
        let secret = match self {
            Secrets::Cluster(client) => {
                Api::<Secret>::namespaced(client.clone(), namespace)
                    .get_opt(&selector.name)
                    .await?
            }
            Secrets::Files(secrets) => secrets
                .get(&(namespace.to_string(), selector.name.clone()))
                .cloned(),
        };
        let secret = secret.ok_or_else(|| Error::Missing {
            field: field.to_string(),
            message: format!("Secret {namespace}/{} not found", selector.name),
        })?;
        value_of(&secret, &selector.key).ok_or_else(|| Error::Missing {
            field: field.to_string(),
            message: format!(
                "Secret {namespace}/{} has no key {:?}",
                selector.name, selector.key
            ),
        })
    }
}

impl Secrets {
    /// The value at `key` of the Secret `name`, which ecsfleet creates (owned by `owner`)
    /// if it does not exist yet — holding what `recover` finds (awaited only then: the value
    /// AWS still has, when the Secret was lost) or else a random value — and reuses ever after, until `rotation`
    /// names a request the Secret has not seen: then the value is replaced by a new random
    /// one (only in a Secret ecsfleet created) and the request recorded on it.
    #[allow(clippy::too_many_arguments)]
    pub async fn generated(
        &self,
        namespace: &str,
        name: &str,
        key: &str,
        owner: Option<OwnerReference>,
        rotation: Option<&str>,
        recover: impl Future<Output = Result<Option<Sensitive>>>,
        field: &str,
    ) -> Result<Sensitive> {
        let api = self.api(namespace, field)?;
        let existing = |secret: &Secret| {
            value_of(secret, key).ok_or_else(|| {
                Error::invalid(
                    field,
                    format!("Secret {namespace}/{name} exists without the key {key:?}"),
                )
            })
        };
        let mut meta = owned_meta(namespace, name, owner);
        if let Some(request) = rotation {
            meta.annotations = Some(BTreeMap::from([(
                ROTATED_FOR.to_string(),
                request.to_string(),
            )]));
        }
        if let Some(secret) = api.get_opt(name).await? {
            let annotations = secret.metadata.annotations.as_ref();
            let honoured = annotations
                .and_then(|a| a.get(ROTATED_FOR))
                .map(String::as_str);
            let Some(request) = rotation.filter(|r| Some(*r) != honoured) else {
                return existing(&secret);
            };
            let labels = secret.metadata.labels.as_ref();
            if labels.and_then(|l| l.get(MANAGED_BY)).map(String::as_str) != Some("ecsfleet") {
                return Err(Error::invalid(
                    field,
                    format!(
                        "rotation {request:?} asked for, but Secret {namespace}/{name} was not created by ecsfleet: change its value yourself"
                    ),
                ));
            }
            let value = random_id(40);
            let patch = serde_json::json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": meta,
                "data": {key: ByteString(value.0.clone().into_bytes())},
            });
            api.patch(
                name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await?;
            return Ok(value);
        }
        let value = recover.await?.unwrap_or_else(|| random_id(40));
        let secret = Secret {
            metadata: meta,
            string_data: Some(BTreeMap::from([(key.to_string(), value.0.clone())])),
            type_: Some("Opaque".into()),
            ..Secret::default()
        };
        let created = PostParams {
            field_manager: Some(FIELD_MANAGER.to_string()),
            ..PostParams::default()
        };
        match api.create(&created, &secret).await {
            Ok(_) => Ok(value),
            // Created meanwhile (another reconcile): use that one.
            Err(kube::Error::Api(status)) if status.code == 409 => existing(&api.get(name).await?),
            Err(error) => Err(error.into()),
        }
    }

    /// Makes the Secret `name` (owned by `owner`) hold exactly `data`. Writes only when
    /// something differs; returns whether it wrote. A Secret that exists without `owner`
    /// among its owners is someone else's: it is refused, whatever the object says of
    /// adoption (its keys would be overwritten and the garbage collector would delete it
    /// with `owner`: whoever may only read Secrets would have the operator write one).
    pub async fn write_owned(
        &self,
        namespace: &str,
        name: &str,
        data: BTreeMap<String, Sensitive>,
        owner: Option<OwnerReference>,
        field: &str,
    ) -> Result<bool> {
        let api = self.api(namespace, field)?;
        let wanted: BTreeMap<String, ByteString> = data
            .into_iter()
            .map(|(k, v)| (k, ByteString(v.0.into_bytes())))
            .collect();
        if let Some(current) = api.get_opt(name).await? {
            let owners = current
                .metadata
                .owner_references
                .as_deref()
                .unwrap_or_default();
            let ours = owner
                .as_ref()
                .is_none_or(|owner| owners.iter().any(|o| o.uid == owner.uid));
            if !ours {
                return Err(Error::OwnedByOther {
                    resource: format!("Secret {namespace}/{name} ({field})"),
                    owner: owners
                        .first()
                        .map(|o| format!("{} {}", o.kind, o.name))
                        .unwrap_or_else(|| "whoever created it".into()),
                });
            }
            if ours && current.data.as_ref() == Some(&wanted) {
                return Ok(false);
            }
        }
        let secret = Secret {
            metadata: owned_meta(namespace, name, owner),
            data: Some(wanted),
            type_: Some("Opaque".into()),
            ..Secret::default()
        };
        let patch = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": secret.metadata, "data": secret.data, "type": secret.type_,
        });
        api.patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&patch),
        )
        .await?;
        Ok(true)
    }

    /// Fails (naming `field`) unless Secrets can be written here.
    pub fn ensure_writable(&self, field: &str) -> Result<()> {
        self.api("default", field).map(|_| ())
    }

    fn api(&self, namespace: &str, field: &str) -> Result<Api<Secret>> {
        match self {
            Secrets::Cluster(client) => Ok(Api::namespaced(client.clone(), namespace)),
            Secrets::Files(_) => Err(Error::invalid(
                field,
                "needs a cluster: the CLI reads Secrets from the given files and writes none (use secretRef with a Secret in the files, or run the controller)",
            )),
        }
    }
}

/// On a generated Secret: the rotation request its value answers.
pub const ROTATED_FOR: &str = "ecsfleet.dev/rotated-for";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

fn owned_meta(namespace: &str, name: &str, owner: Option<OwnerReference>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        owner_references: owner.map(|o| vec![o]),
        labels: Some(BTreeMap::from([(
            MANAGED_BY.to_string(),
            "ecsfleet".to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

/// `length` characters from [A-Za-z0-9], uniformly, from the operating system's CSPRNG.
pub fn random_id(length: usize) -> Sensitive {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::with_capacity(length);
    let mut buffer = [0u8; 64];
    while id.len() < length {
        getrandom::fill(&mut buffer).expect("the operating system's random source");
        // Rejection sampling: 248 = 4 × 62, so every character is equally likely.
        for byte in buffer.iter().filter(|b| **b < 248) {
            if id.len() == length {
                break;
            }
            id.push(ALPHABET[usize::from(*byte) % ALPHABET.len()] as char);
        }
    }
    crate::redact::remember(&id);
    Sensitive(id)
}

/// A key of `data` (bytes) or `stringData` (as written in a file), as UTF-8 text,
/// remembered for redaction.
fn value_of(secret: &Secret, key: &str) -> Option<Sensitive> {
    let value = match secret.data.as_ref().and_then(|data| data.get(key)) {
        Some(bytes) => String::from_utf8(bytes.0.clone()).ok()?,
        None => secret.string_data.as_ref()?.get(key)?.clone(),
    };
    crate::redact::remember(&value);
    Some(Sensitive(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;
    use kube::api::ObjectMeta;

    fn secrets() -> Secrets {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some("ext".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            data: Some(BTreeMap::from([(
                "id".into(),
                ByteString(b"s3cr3t".to_vec()),
            )])),
            string_data: Some(BTreeMap::from([("plain".into(), "text".into())])),
            ..Default::default()
        };
        Secrets::Files(BTreeMap::from([(("ns".into(), "ext".into()), secret)]))
    }

    fn selector(name: &str, key: &str) -> SecretKeySelector {
        SecretKeySelector {
            name: name.into(),
            key: key.into(),
        }
    }

    #[test]
    fn random_ids_are_long_alphanumeric_and_different() {
        let a = random_id(40);
        let b = random_id(40);
        assert_eq!(a.0.len(), 40);
        assert!(a.0.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn writing_secrets_needs_a_cluster_and_says_so() {
        let error = secrets()
            .generated(
                "ns",
                "x",
                "externalId",
                None,
                None,
                async { Ok(None) },
                "spec.trust.externalId.generate",
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("spec.trust.externalId.generate: needs a cluster"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn reads_data_and_string_data() {
        let secrets = secrets();
        let value = secrets
            .read("ns", &selector("ext", "id"), "f")
            .await
            .unwrap();
        assert_eq!(value.0, "s3cr3t");
        let value = secrets
            .read("ns", &selector("ext", "plain"), "f")
            .await
            .unwrap();
        assert_eq!(value.0, "text");
    }

    #[tokio::test]
    async fn missing_secret_or_key_names_the_field_not_the_value() {
        let secrets = secrets();
        let missing = secrets
            .read("ns", &selector("nope", "id"), "spec.assumeRoleExternalId")
            .await
            .unwrap_err();
        let error = missing.to_string();
        assert!(
            error.starts_with("spec.assumeRoleExternalId: Secret ns/nope not found"),
            "{error}"
        );
        // A Secret that is not there yet may be on its way: waiting (kstatus InProgress,
        // retried with backoff), not a refused spec (Stalled).
        assert!(missing.is_retryable(), "{missing:?}");
        assert_eq!(missing.reason(), crate::Reason::ReconcileError);
        let error = secrets
            .read("ns", &selector("ext", "other"), "spec.assumeRoleExternalId")
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("has no key \"other\""), "{error}");
        assert!(!error.contains("s3cr3t"));
        assert!(
            !format!(
                "{:?}",
                secrets.read("ns", &selector("ext", "id"), "f").await
            )
            .contains("s3cr3t")
        );
    }
}
