//! Reading objects from files and folders of multi-document YAML.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use serde::Deserialize;
use serde_json::Value;

use crate::daemon_service::DaemonService;
use crate::integration_role::IntegrationRole;
use crate::scaling_group::ScalingGroup;
use crate::tenancy::{POLICY_NAME, Tenancy, TenancyPolicy};
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

/// What the files held: our objects in order, the Secrets they may reference and the
/// TenancyPolicy `ecsfleet`, if one is among them.
#[derive(Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Object>,
    pub secrets: BTreeMap<(String, String), Secret>,
    pub tenancy: Option<TenancyPolicy>,
}

impl Loaded {
    /// What the objects may reach: the files' TenancyPolicy, or else nothing restricts
    /// (the CLI acts with its user's own AWS identity).
    pub fn tenancy(&self) -> Tenancy {
        match &self.tenancy {
            Some(policy) => Tenancy::Fixed(Some(std::sync::Arc::new(policy.clone()))),
            None => Tenancy::Unrestricted,
        }
    }
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
        let size = std::fs::metadata(&file)
            .map_err(|e| input(&file, e.to_string()))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(input(
                &file,
                format!(
                    "{size} bytes; manifests are read up to {MAX_FILE_BYTES} (the API server takes 3 MiB a request)"
                ),
            ));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| input(&file, e.to_string()))?;
        check_nesting(&text).map_err(|message| input(&file, message))?;
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

/// The largest manifest file read.
pub const MAX_FILE_BYTES: u64 = 3 * 1024 * 1024;
/// The deepest nesting of flow collections (`[`, `{`) read; no manifest of ours needs
/// more than a few levels, and the YAML parser is slow to refuse deep nesting itself.
pub const MAX_NESTING: usize = 64;

/// Refuses, in one pass and before parsing, YAML whose flow collections nest deeper than
/// `MAX_NESTING` (brackets inside quoted scalars and comments do not count).
fn check_nesting(text: &str) -> std::result::Result<(), String> {
    let (mut depth, mut line) = (0usize, 1usize);
    let (mut single, mut double, mut comment, mut escaped) = (false, false, false, false);
    let mut previous = '\n';
    for c in text.chars() {
        if c == '\n' {
            line += 1;
            comment = false;
        }
        if comment {
        } else if double {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                double = false;
            }
        } else if single {
            // '' inside a single-quoted scalar reopens it at once: still balanced.
            if c == '\'' {
                single = false;
            }
        } else {
            match c {
                '#' if previous.is_whitespace() => comment = true,
                '"' => double = true,
                '\'' if !previous.is_alphanumeric() => single = true,
                '[' | '{' => {
                    depth += 1;
                    if depth > MAX_NESTING {
                        return Err(format!(
                            "line {line}: nested deeper than {MAX_NESTING} levels"
                        ));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        previous = c;
    }
    Ok(())
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
    let parse_error = |e: serde_path_to_error::Error<serde_json::Error>| Error::Input {
        path: where_.to_string(),
        message: format!("{kind}: {}: {}", e.path(), e.inner()),
    };
    match (api_version.as_str(), kind.as_str()) {
        ("ecsfleet.dev/v1alpha1", "DaemonService") => loaded
            .objects
            .push(Object::DaemonService(ours(value, where_, &kind)?)),
        ("ecsfleet.dev/v1alpha1", "IntegrationRole") => loaded
            .objects
            .push(Object::IntegrationRole(ours(value, where_, &kind)?)),
        ("ecsfleet.dev/v1alpha1", "ScalingGroup") => loaded
            .objects
            .push(Object::ScalingGroup(Box::new(ours(value, where_, &kind)?))),
        ("ecsfleet.dev/v1alpha1", "TenancyPolicy") => {
            let policy: TenancyPolicy = decode(value).map_err(|e| Error::Input {
                path: where_.to_string(),
                message: format!("{kind}: {e}"),
            })?;
            if policy.metadata.name.as_deref() == Some(POLICY_NAME) {
                loaded.tenancy = Some(policy);
            }
        }
        ("v1", "Secret") => {
            let secret: Secret = serde_path_to_error::deserialize(value).map_err(parse_error)?;
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

/// An object of one of our kinds from its manifest, as the API server would take it:
/// the CRD's schema checked first, then decoded; a refusal names the field.
pub fn decode<K>(value: Value) -> Result<K>
where
    K: serde::de::DeserializeOwned + kube::CustomResourceExt,
{
    let spec = value.get("spec").cloned().unwrap_or(Value::Null);
    crate::runtime::schema::check(&crate::runtime::schema::spec_schema::<K>(), &spec, "spec")?;
    serde_path_to_error::deserialize(value)
        .map_err(|e| Error::invalid(e.path().to_string(), e.inner().to_string()))
}

/// An object of one of our kinds; without a namespace it is in `default`. Its name and
/// namespace must be ones the API server would take.
fn ours<K>(value: serde_json::Value, where_: &str, kind: &str) -> Result<K>
where
    K: serde::de::DeserializeOwned + kube::Resource + kube::CustomResourceExt,
{
    let mut obj: K = decode(value).map_err(|e| Error::Input {
        path: where_.to_string(),
        message: format!("{kind}: {e}"),
    })?;
    let meta = obj.meta_mut();
    let namespace = meta.namespace.get_or_insert_with(|| "default".to_string());
    let refused = |field: &str, message: String| Error::Input {
        path: where_.to_string(),
        message: format!("{kind}: {field}: {message}"),
    };
    if !is_dns_label(namespace, 63) {
        return Err(refused(
            "metadata.namespace",
            format!(
                "{namespace:?} is not a namespace name (at most 63 of a-z, 0-9 and -, starting and ending alphanumeric)"
            ),
        ));
    }
    match meta.name.as_deref() {
        None | Some("") => return Err(refused("metadata.name", "is required".into())),
        Some(name) if !name.split('.').all(|part| is_dns_label(part, 63)) || name.len() > 253 => {
            return Err(refused(
                "metadata.name",
                format!(
                    "{name:?} is not a Kubernetes object name (at most 253 of a-z, 0-9, - and .)"
                ),
            ));
        }
        Some(_) => {}
    }
    Ok(obj)
}

/// An RFC 1123 label of at most `max` characters.
fn is_dns_label(text: &str, max: usize) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
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
        assert!(
            error.contains("DaemonService: spec.scheduling: "),
            "{error}"
        );
    }

    #[test]
    fn a_type_error_names_the_field_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.yaml");
        std::fs::write(
            &file,
            "apiVersion: ecsfleet.dev/v1alpha1\nkind: IntegrationRole\nmetadata: {name: a}\nspec: {trust: {principals: [\"123456789012\"], allowWithoutExternalId: perhaps}}\n",
        )
        .unwrap();
        let error = load(&[file]).unwrap_err().to_string();
        assert!(
            error.contains("IntegrationRole: spec.trust.allowWithoutExternalId: invalid type"),
            "{error}"
        );
    }

    #[test]
    fn names_and_namespaces_must_be_ones_the_api_server_takes() {
        let dir = tempfile::tempdir().unwrap();
        for (metadata, expected) in [
            ("{namespace: team}", "metadata.name: is required"),
            ("{name: \"\"}", "metadata.name: is required"),
            ("{name: Agent_1}", "metadata.name: \"Agent_1\" is not"),
            (
                "{name: a, namespace: Team!}",
                "metadata.namespace: \"Team!\" is not",
            ),
            ("{name: a, namespace: -team}", "metadata.namespace:"),
        ] {
            let file = dir.path().join("m.yaml");
            std::fs::write(
                &file,
                format!("apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\nmetadata: {metadata}\nspec: {{cluster: c, taskDefinition: {{arn: x}}}}\n"),
            )
            .unwrap();
            let error = load(&[file]).unwrap_err().to_string();
            assert!(
                error.contains(&format!("DaemonService: {expected}")),
                "{error}"
            );
        }
    }

    #[test]
    fn deep_nesting_and_huge_files_are_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("deep.yaml");
        let brackets = 100_000;
        std::fs::write(
            &deep,
            format!(
                "apiVersion: v1\nkind: X\nspec: {}{}\n",
                "[".repeat(brackets),
                "]".repeat(brackets)
            ),
        )
        .unwrap();
        let error = load(&[deep]).unwrap_err().to_string();
        assert!(
            error.contains("line 3: nested deeper than 64 levels"),
            "{error}"
        );

        let big = dir.path().join("big.yaml");
        std::fs::write(&big, "#".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
        let error = load(&[big]).unwrap_err().to_string();
        assert!(error.contains("manifests are read up to"), "{error}");

        // Brackets in quotes and comments are text, not nesting.
        let quoted = dir.path().join("quoted.yaml");
        let text = format!(
            "# {}\na: \"{}\"\nb: '{}'\n",
            "[".repeat(100),
            "{".repeat(100),
            "[".repeat(100)
        );
        std::fs::write(&quoted, text).unwrap();
        assert!(load(&[quoted]).is_ok());
    }
}
