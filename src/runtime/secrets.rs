//! Reading Secret values, from the cluster or (for the CLI) from the files given.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use crate::aws::Sensitive;
use crate::common::SecretKeySelector;
use crate::{Error, Result};

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
        let secret = secret.ok_or_else(|| {
            Error::invalid(
                field,
                format!("Secret {namespace}/{} not found", selector.name),
            )
        })?;
        value_of(&secret, &selector.key).ok_or_else(|| {
            Error::invalid(
                field,
                format!(
                    "Secret {namespace}/{} has no key {:?}",
                    selector.name, selector.key
                ),
            )
        })
    }
}

/// A key of `data` (bytes) or `stringData` (as written in a file), as UTF-8 text.
fn value_of(secret: &Secret, key: &str) -> Option<Sensitive> {
    if let Some(bytes) = secret.data.as_ref().and_then(|data| data.get(key)) {
        return String::from_utf8(bytes.0.clone()).ok().map(Sensitive);
    }
    secret
        .string_data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|value| Sensitive(value.clone()))
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
        let error = secrets
            .read("ns", &selector("nope", "id"), "spec.assumeRoleExternalId")
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("spec.assumeRoleExternalId: Secret ns/nope not found"),
            "{error}"
        );
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
