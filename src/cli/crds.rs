//! `ecsfleet crds`: the CustomResourceDefinitions, generated from the API types.

use std::process::ExitCode;

use kube::CustomResourceExt;

use crate::daemon_service::DaemonService;
use crate::integration_role::IntegrationRole;
use crate::scaling_group::ScalingGroup;
use crate::tenancy::TenancyPolicy;
use crate::{Error, Result};

/// The CRDs, in the order of `crds/`.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    vec![
        DaemonService::crd(),
        IntegrationRole::crd(),
        ScalingGroup::crd(),
        TenancyPolicy::crd(),
    ]
}

/// The YAML of one CRD, as committed under `crds/`.
pub fn crd_yaml(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> String {
    serde_yaml_ng::to_string(crd).expect("a CRD serializes")
}

/// Prints the CRDs, or writes one file per CRD into `out_dir`.
pub fn write_crds(out_dir: Option<&std::path::Path>) -> Result<ExitCode> {
    let crds = crds();
    match out_dir {
        None => {
            let documents: Vec<String> = crds.iter().map(crd_yaml).collect();
            print!("{}", documents.join("---\n"));
        }
        Some(dir) => {
            for crd in &crds {
                let path = dir.join(format!(
                    "{}.yaml",
                    crd.metadata.name.as_deref().unwrap_or("crd")
                ));
                std::fs::write(&path, crd_yaml(crd)).map_err(|e| Error::Input {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod description_tests {
    use serde_json::Value;

    /// Every property of `schema` without a description, by path.
    fn undescribed(schema: &Value, path: &str, out: &mut Vec<String>) {
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let at = format!("{path}.{name}");
                if property.get("description").is_none() {
                    out.push(at.clone());
                }
                undescribed(property, &at, out);
            }
        }
        if let Some(items) = schema.get("items") {
            undescribed(items, &format!("{path}[]"), out);
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            undescribed(values, &format!("{path}.*"), out);
        }
    }

    /// `kubectl explain` shows the description: a field without one is a field users
    /// cannot learn about from the cluster.
    #[test]
    fn every_crd_field_has_a_description() {
        let mut missing = Vec::new();
        for crd in super::crds() {
            let kind = crd.spec.names.kind.clone();
            for version in &crd.spec.versions {
                let schema =
                    serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema)
                        .unwrap();
                undescribed(&schema, &kind, &mut missing);
            }
        }
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:#?}"
        );
    }

    /// Every default below an atomic list's items, by path.
    fn defaults_in_atomic_items(
        schema: &Value,
        path: &str,
        in_atomic: bool,
        out: &mut Vec<String>,
    ) {
        if in_atomic && schema.get("default").is_some() {
            out.push(path.to_string());
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                defaults_in_atomic_items(property, &format!("{path}.{name}"), in_atomic, out);
            }
        }
        if let Some(items) = schema.get("items") {
            let keyed = schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map");
            defaults_in_atomic_items(items, &format!("{path}[]"), in_atomic || !keyed, out);
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            defaults_in_atomic_items(values, &format!("{path}.*"), in_atomic, out);
        }
    }

    /// A default the API server writes into an atomic list's item makes the stored list
    /// differ from the one a client applied: server-side apply after a client-side apply
    /// (and `kubectl diff --server-side`) then conflicts on the whole list. Lists whose
    /// items carry defaults are keyed (`x-kubernetes-list-type: map`), or the default is
    /// left to ecsfleet (`common::no_stored_default`).
    #[test]
    fn no_atomic_list_item_holds_a_default() {
        let mut found = Vec::new();
        for crd in super::crds() {
            let kind = crd.spec.names.kind.clone();
            for version in &crd.spec.versions {
                let schema =
                    serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema)
                        .unwrap();
                defaults_in_atomic_items(&schema, &kind, false, &mut found);
            }
        }
        assert!(
            found.is_empty(),
            "defaults in atomic lists' items: {found:#?}"
        );
    }

    /// Every default, with the schema it is the default of, by path.
    fn defaults<'a>(schema: &'a Value, path: &str, out: &mut Vec<(String, &'a Value, &'a Value)>) {
        if let Some(default) = schema.get("default") {
            out.push((path.to_string(), schema, default));
        }
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                defaults(property, &format!("{path}.{name}"), out);
            }
        }
        if let Some(items) = schema.get("items") {
            defaults(items, &format!("{path}[]"), out);
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            defaults(values, &format!("{path}.*"), out);
        }
    }

    /// The API server refuses a CRD whose default breaks its own schema (a default list
    /// under its minItems, say): each default is checked by ecsfleet's schema check.
    #[test]
    fn every_default_satisfies_its_own_schema() {
        let mut broken = Vec::new();
        for crd in super::crds() {
            let kind = crd.spec.names.kind.clone();
            for version in &crd.spec.versions {
                let schema =
                    serde_json::to_value(&version.schema.as_ref().unwrap().open_api_v3_schema)
                        .unwrap();
                let mut found = Vec::new();
                defaults(&schema, &kind, &mut found);
                for (path, schema, default) in found {
                    if let Err(error) = crate::runtime::schema::check(schema, default, &path) {
                        broken.push(error.to_string());
                    }
                }
            }
        }
        assert!(
            broken.is_empty(),
            "defaults their schema refuses: {broken:#?}"
        );
    }
}
