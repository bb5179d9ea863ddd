//! Reading objects from files and folders of multi-document YAML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde_json::Value;

use crate::daemon_service::DaemonService;
use crate::integration_role::IntegrationRole;
use crate::scaling_group::ScalingGroup;
use crate::{Error, Result};

/// An object of one of our kinds, read from a file.
#[derive(Clone, Debug)]
pub enum Object {
    DaemonService(DaemonService),
    IntegrationRole(IntegrationRole),
    ScalingGroup(Box<ScalingGroup>),
}

impl Object {
    pub fn kind(&self) -> &'static str {
        match self {
            Object::DaemonService(_) => "DaemonService",
            Object::IntegrationRole(_) => "IntegrationRole",
            Object::ScalingGroup(_) => "ScalingGroup",
        }
    }

    pub fn meta(&self) -> &kube::api::ObjectMeta {
        match self {
            Object::DaemonService(o) => &o.metadata,
            Object::IntegrationRole(o) => &o.metadata,
            Object::ScalingGroup(o) => &o.metadata,
        }
    }

    pub fn namespace(&self) -> String {
        self.meta().namespace.clone().unwrap_or_default()
    }

    pub fn name(&self) -> String {
        self.meta().name.clone().unwrap_or_default()
    }
}

/// What the files held: our objects in order, and the Secrets they may reference.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Object>,
    pub secrets: BTreeMap<(String, String), Secret>,
}

/// Reads every `.yaml`, `.yml` and `.json` file under `paths` (folders recursively, in
/// name order). Kinds that are not ours are skipped, except Secrets.
pub fn load(paths: &[PathBuf]) -> Result<Loaded> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    let mut loaded = Loaded::default();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| input(&file, e.to_string()))?;
        for (index, document) in serde_yaml_ng::Deserializer::from_str(&text).enumerate() {
            let value = Value::deserialize(document)
                .map_err(|e| input(&file, format!("document {}: {e}", index + 1)))?;
            if value.is_null() {
                continue;
            }
            let where_ = format!("{} (document {})", file.display(), index + 1);
            add(value, &where_, &mut loaded)?;
        }
    }
    Ok(loaded)
}

fn add(value: Value, where_: &str, loaded: &mut Loaded) -> Result<()> {
    let field = |name: &str| {
        value
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    let parse_error = |e: serde_json::Error| Error::Input {
        path: where_.to_string(),
        message: format!("{kind}: {e}"),
    };
    match (api_version.as_str(), kind.as_str()) {
        ("ecsfleet.dev/v1alpha1", "DaemonService") => loaded
            .objects
            .push(Object::DaemonService(ours(value).map_err(parse_error)?)),
        ("ecsfleet.dev/v1alpha1", "IntegrationRole") => loaded
            .objects
            .push(Object::IntegrationRole(ours(value).map_err(parse_error)?)),
        ("ecsfleet.dev/v1alpha1", "ScalingGroup") => loaded.objects.push(Object::ScalingGroup(
            Box::new(ours(value).map_err(parse_error)?),
        )),
        ("v1", "Secret") => {
            let secret: Secret = serde_json::from_value(value).map_err(parse_error)?;
            let namespace = secret
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into());
            let name = secret.metadata.name.clone().unwrap_or_default();
            loaded.secrets.insert((namespace, name), secret);
        }
        _ => {}
    }
    Ok(())
}

/// An object of one of our kinds; without a namespace it is in `default`.
fn ours<K: serde::de::DeserializeOwned + kube::Resource>(
    value: serde_json::Value,
) -> std::result::Result<K, serde_json::Error> {
    let mut obj: K = serde_json::from_value(value)?;
    obj.meta_mut()
        .namespace
        .get_or_insert_with(|| "default".to_string());
    Ok(obj)
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let metadata = std::fs::metadata(path).map_err(|e| input(path, e.to_string()))?;
    if metadata.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| input(path, e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            let is_manifest = entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            if entry.is_dir() || is_manifest {
                collect(&entry, files)?;
            }
        }
    } else {
        files.push(path.to_path_buf());
    }
    Ok(())
}

fn input(path: &Path, message: String) -> Error {
    Error::Input {
        path: path.display().to_string(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_kinds_and_secrets_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.yaml"),
            r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: skipped}
---
apiVersion: v1
kind: Secret
metadata: {name: ext, namespace: team}
stringData: {id: x}
---
apiVersion: ecsfleet.dev/v1alpha1
kind: DaemonService
metadata: {name: agent}
spec:
  cluster: prod
  taskDefinition: {arn: "agent:1"}
"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not yaml: [").unwrap();
        let loaded = load(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(loaded.objects.len(), 1);
        assert!(loaded.secrets.contains_key(&("team".into(), "ext".into())));
        let Object::DaemonService(obj) = &loaded.objects[0] else {
            panic!("a DaemonService")
        };
        assert_eq!(obj.metadata.namespace.as_deref(), Some("default"));
    }

    #[test]
    fn a_wrong_type_names_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.yaml");
        std::fs::write(
            &file,
            "apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {name: a}\nspec: {cluster: c, taskDefinition: {arn: x}, scheduling: Sometimes}\n",
        )
        .unwrap();
        let error = load(&[file]).unwrap_err().to_string();
        assert!(error.contains("bad.yaml (document 1)"), "{error}");
        assert!(error.contains("Sometimes"), "{error}");
    }
}
