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

    /// One node of a CRD schema: its path, whether it has a description of its own (a
    /// property), and whether it lies within the items of an atomic (unkeyed) list.
    struct Node<'a> {
        path: String,
        schema: &'a Value,
        described: Option<bool>,
        in_atomic: bool,
    }

    fn walk<'a>(node: Node<'a>, out: &mut Vec<Node<'a>>) {
        let (schema, path, in_atomic) = (node.schema, node.path.clone(), node.in_atomic);
        out.push(node);
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let described = Some(property.get("description").is_some());
                let path = format!("{path}.{name}");
                walk(
                    Node {
                        path,
                        schema: property,
                        described,
                        in_atomic,
                    },
                    out,
                );
            }
        }
        if let Some(items) = schema.get("items") {
            let keyed = schema.get("x-kubernetes-list-type").and_then(Value::as_str) == Some("map");
            let path = format!("{path}[]");
            walk(
                Node {
                    path,
                    schema: items,
                    described: None,
                    in_atomic: in_atomic || !keyed,
                },
                out,
            );
        }
        if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            let path = format!("{path}.*");
            walk(
                Node {
                    path,
                    schema: values,
                    described: None,
                    in_atomic,
                },
                out,
            );
        }
    }

    /// Every CRD's schema as JSON, by kind.
    fn schemas() -> Vec<(String, Value)> {
        super::crds()
            .into_iter()
            .flat_map(|crd| {
                let kind = crd.spec.names.kind.clone();
                crd.spec.versions.into_iter().map(move |version| {
                    let schema = version.schema.unwrap().open_api_v3_schema;
                    (kind.clone(), serde_json::to_value(schema).unwrap())
                })
            })
            .collect()
    }

    /// What `report` says of every node of every CRD schema, where it says something.
    fn every(report: impl Fn(&Node) -> Option<String>) -> Vec<String> {
        let mut found = Vec::new();
        for (kind, schema) in schemas() {
            let mut nodes = Vec::new();
            let root = Node {
                path: kind,
                schema: &schema,
                described: None,
                in_atomic: false,
            };
            walk(root, &mut nodes);
            found.extend(nodes.iter().filter_map(&report));
        }
        found
    }

    /// `kubectl explain` shows the description: a field without one is a field users
    /// cannot learn about from the cluster.
    #[test]
    fn every_crd_field_has_a_description() {
        let missing = every(|n| (n.described == Some(false)).then(|| n.path.clone()));
        assert!(
            missing.is_empty(),
            "fields without a description: {missing:#?}"
        );
    }

    /// A default the API server writes into an atomic list's item makes the stored list
    /// differ from the one a client applied: server-side apply after a client-side apply
    /// (and `kubectl diff --server-side`) then conflicts on the whole list. Lists whose
    /// items carry defaults are keyed (`x-kubernetes-list-type: map`), or the default is
    /// left to ecsfleet (`common::no_stored_default`).
    #[test]
    fn no_atomic_list_item_holds_a_default() {
        let found =
            every(|n| (n.in_atomic && n.schema.get("default").is_some()).then(|| n.path.clone()));
        assert!(
            found.is_empty(),
            "defaults in atomic lists' items: {found:#?}"
        );
    }

    /// The API server refuses a CRD whose default breaks its own schema (a default list
    /// under its minItems, say): each default is checked by ecsfleet's schema check.
    #[test]
    fn every_default_satisfies_its_own_schema() {
        let broken = every(|n| {
            let default = n.schema.get("default")?;
            crate::runtime::schema::check(n.schema, default, &n.path)
                .err()
                .map(|e| e.to_string())
        });
        assert!(
            broken.is_empty(),
            "defaults their schema refuses: {broken:#?}"
        );
    }
}
