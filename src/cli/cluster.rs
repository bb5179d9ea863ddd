//! `plan --from-cluster`: the objects as the running controller sees them. Their identity
//! (`metadata.uid`, which the ownership tags carry), generation and status come from the
//! API server, and so do the Secrets they reference; with files, each file's spec is
//! planned in place of the live one, as if it had just been applied.

use std::collections::BTreeMap;

use kube::api::ListParams;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::files::Object;
use crate::Result;
use crate::daemon_service::DaemonService;
use crate::integration_role::IntegrationRole;
use crate::runtime::Managed;
use crate::scaling_group::ScalingGroup;

/// A client for the kubeconfig's `context` (its current one when `None`), or the
/// in-cluster configuration when there is no kubeconfig.
pub async fn client(context: Option<&str>) -> Result<Client> {
    let config = match context {
        Some(context) => {
            let options = KubeConfigOptions {
                context: Some(context.to_string()),
                ..KubeConfigOptions::default()
            };
            let kubeconfig = Kubeconfig::read().map_err(kube::Error::InferKubeconfig)?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(kube::Error::InferKubeconfig)?
        }
        None => Config::infer().await.map_err(kube::Error::InferConfig)?,
    };
    Ok(Client::try_from(config)?)
}

/// Every object of our kinds in `namespace` (all namespaces when `None`), in kind, then
/// namespace/name order.
pub async fn live_objects(client: &Client, namespace: Option<&str>) -> Result<Vec<Object>> {
    let mut objects = Vec::new();
    objects.extend(
        list::<DaemonService>(client, namespace)
            .await?
            .into_iter()
            .map(Object::DaemonService),
    );
    objects.extend(
        list::<IntegrationRole>(client, namespace)
            .await?
            .into_iter()
            .map(Object::IntegrationRole),
    );
    objects.extend(
        list::<ScalingGroup>(client, namespace)
            .await?
            .into_iter()
            .map(|o| Object::ScalingGroup(Box::new(o))),
    );
    Ok(objects)
}

async fn list<K: Managed>(client: &Client, namespace: Option<&str>) -> Result<Vec<K>> {
    let api: Api<K> = match namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    let mut items = api.list(&ListParams::default()).await?.items;
    items.sort_by_key(|o| (o.meta().namespace.clone(), o.meta().name.clone()));
    Ok(items)
}

/// The objects of the files, each with the identity and status of the live object of the
/// same kind, namespace and name (one that does not exist yet keeps the files' identity:
/// the controller would create its resources).
pub fn with_live_identity(files: Vec<Object>, live: &[Object]) -> Vec<Object> {
    let live: BTreeMap<(&str, String, String), &Object> = live
        .iter()
        .map(|o| ((o.kind(), o.namespace(), o.name()), o))
        .collect();
    files
        .into_iter()
        .map(|file| {
            let Some(found) = live.get(&(file.kind(), file.namespace(), file.name())) else {
                return file;
            };
            match (file, *found) {
                (Object::DaemonService(f), Object::DaemonService(l)) => {
                    Object::DaemonService(merged(f, l))
                }
                (Object::IntegrationRole(f), Object::IntegrationRole(l)) => {
                    Object::IntegrationRole(merged(f, l))
                }
                (Object::ScalingGroup(f), Object::ScalingGroup(l)) => {
                    Object::ScalingGroup(Box::new(merged(*f, l)))
                }
                (file, _) => file,
            }
        })
        .collect()
}

/// `file`'s spec, labels and annotations on `live`'s identity and status; its generation
/// one more than `live`'s when the spec differs, as the API server would make it.
fn merged<K: Serialize + DeserializeOwned + kube::Resource>(file: K, live: &K) -> K {
    let file_value = serde_json::to_value(&file).expect("our kinds serialize");
    let mut value = serde_json::to_value(live).expect("our kinds serialize");
    let changed = file_value["spec"] != value["spec"];
    value["spec"] = file_value["spec"].clone();
    for key in ["labels", "annotations"] {
        value["metadata"][key] = file_value["metadata"][key].clone();
    }
    let mut obj: K = serde_json::from_value(value).unwrap_or(file);
    if changed {
        let meta = obj.meta_mut();
        meta.generation = meta.generation.map(|g| g + 1);
    }
    obj
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(uid: Option<&str>, generation: Option<i64>, principal: &str) -> IntegrationRole {
        let mut role: IntegrationRole = serde_json::from_value(serde_json::json!({
            "apiVersion": "ecsfleet.dev/v1alpha1", "kind": "IntegrationRole",
            "metadata": {"name": "vendor", "namespace": "team", "uid": uid, "generation": generation,
                         "annotations": {"from": if uid.is_some() { "live" } else { "file" }}},
            "spec": {"trust": {"principals": [principal]}},
            "status": if uid.is_some() { serde_json::json!({"roleArn": "arn"}) } else { serde_json::Value::Null },
        }))
        .unwrap();
        role.metadata.uid = uid.map(str::to_string);
        role
    }

    #[test]
    fn files_are_planned_with_the_live_identity_and_status() {
        let live = vec![Object::IntegrationRole(role(
            Some("u-1"),
            Some(4),
            "111111111111",
        ))];
        let same = with_live_identity(
            vec![Object::IntegrationRole(role(None, None, "111111111111"))],
            &live,
        );
        let Object::IntegrationRole(same) = &same[0] else {
            panic!()
        };
        assert_eq!(same.metadata.uid.as_deref(), Some("u-1"));
        assert_eq!(same.metadata.generation, Some(4), "the spec is unchanged");
        assert_eq!(same.metadata.annotations.as_ref().unwrap()["from"], "file");
        assert_eq!(
            same.status.as_ref().unwrap().role_arn.as_deref(),
            Some("arn")
        );

        let changed = with_live_identity(
            vec![
                Object::IntegrationRole(role(None, None, "222222222222")),
                Object::IntegrationRole({
                    let mut other = role(None, None, "111111111111");
                    other.metadata.name = Some("new".into());
                    other
                }),
            ],
            &live,
        );
        let Object::IntegrationRole(edited) = &changed[0] else {
            panic!()
        };
        assert_eq!(
            edited.metadata.generation,
            Some(5),
            "a spec change bumps it"
        );
        assert_eq!(
            edited.spec.trust.principals,
            vec!["222222222222".to_string()]
        );
        let Object::IntegrationRole(new) = &changed[1] else {
            panic!()
        };
        assert_eq!(
            new.metadata.uid, None,
            "not in the cluster yet: the files' identity"
        );
    }
}
