//! Property tests over everything that reads input: the instanceFilter parser, the
//! manifest loader and each kind's validation. Whatever the input: no panic, no abort,
//! an answer; and for a spec that is refused, a message naming the field, given before
//! any AWS call. The case counts are fixed, so a run is bounded.

use ecsfleet::daemon_service::DaemonService;
use ecsfleet::daemon_service::filter;
use ecsfleet::integration_role::IntegrationRole;
use ecsfleet::runtime::secrets::Secrets;
use ecsfleet::runtime::{Env, Intent, Managed, Pipeline};
use ecsfleet::scaling_group::ScalingGroup;
use proptest::prelude::*;
use serde_json::Value;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Text built from the pieces filters are made of, nested and unbalanced at random.
fn filter_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("(".to_string()),
        Just(")".to_string()),
        Just(" and ".to_string()),
        Just(" or ".to_string()),
        Just("not ".to_string()),
        Just("attribute:ecs.os-type".to_string()),
        Just(" == ".to_string()),
        Just(" != ".to_string()),
        Just(" in ".to_string()),
        Just(" exists".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just("'linux'".to_string()),
        Just("'".to_string()),
        Just("agentConnected".to_string()),
        "[a-z0-9.:*_-]{1,12}",
        "\\PC{0,4}",
    ];
    prop::collection::vec(piece, 0..400).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn the_filter_parser_answers_every_input(text in filter_text()) {
        match filter::parse(&text) {
            Ok(_) => prop_assert!(text.len() <= filter::MAX_LENGTH),
            Err(error) => prop_assert!(!error.0.is_empty()),
        }
    }

    #[test]
    fn the_filter_parser_refuses_deep_nesting(depth in 33usize..5000, not in any::<bool>()) {
        let open = if not { "not (" } else { "(" };
        let text = format!("{}agentConnected == true{}", open.repeat(depth), ")".repeat(depth));
        prop_assert!(filter::parse(&text).is_err());
    }
}

/// YAML-ish text: the characters that make YAML structure, in any order.
fn yaml_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("- ".to_string()),
        Just(": ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("---\n".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!binary ".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("# ".to_string()),
        Just("apiVersion: ecsfleet.dev/v1alpha1\nkind: DaemonService\n".to_string()),
        Just("metadata: {name: a}\n".to_string()),
        Just("spec:\n".to_string()),
        "[a-zA-Z0-9]{1,8}",
        "\\PC{0,3}",
    ];
    prop::collection::vec(piece, 0..300).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn the_manifest_loader_answers_every_input(text in yaml_text()) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.yaml");
        std::fs::write(&file, &text).unwrap();
        if let Err(error) = ecsfleet::cli::files::load(&[file]) {
            prop_assert!(!error.to_string().is_empty());
        }
    }
}

/// Every path (object keys, array indices) in `value` under `spec`.
fn paths(value: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Object(fields) => {
            for (key, child) in fields {
                let mut path = prefix.clone();
                path.push(key.clone());
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                let mut path = prefix.clone();
                path.push(index.to_string());
                out.push(path.clone());
                paths(child, path, out);
            }
        }
        _ => {}
    }
}

fn replace(value: &mut Value, path: &[String], with: Value) {
    let mut at = value;
    for key in path {
        at = match at {
            Value::Object(fields) => fields.get_mut(key).unwrap(),
            Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            _ => unreachable!("paths are collected from the value"),
        };
    }
    *at = with;
}

/// Values a careless or hostile manifest may hold.
fn hostile_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(-1i64),
            Just(0),
            Just(1),
            Just(65536),
            Just(i64::from(i32::MAX) + 1)
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,40}".prop_map(Value::String),
        "[a-z*:/ .-]{0,20}".prop_map(Value::String),
        (0usize..3000).prop_map(|n| Value::String("x".repeat(n))),
        Just(Value::String("arn:aws:iam::123456789012:role/x".into())),
        Just(Value::String("ecsfleet.dev/owner".into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,10}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A value of the same JSON type as `original`, wrong in the ways specs are wrong: empty,
/// huge, negative, out of range, repeated, oddly spelled.
fn same_type(original: &Value) -> BoxedStrategy<Value> {
    match original {
        Value::String(_) => prop_oneof![
            Just(String::new()),
            "\\PC{1,30}",
            "[a-zA-Z0-9:/*._-]{1,64}",
            (200usize..3000).prop_map(|n| "a".repeat(n)),
            Just("ecsfleet.dev/owner".to_string()),
            Just("arn:aws:iam::aws:policy/x".to_string()),
            Just("not an arn".to_string()),
        ]
        .prop_map(Value::String)
        .boxed(),
        Value::Number(_) => prop_oneof![
            Just(-1i64),
            Just(0),
            Just(1),
            Just(65536),
            Just(i64::from(i32::MAX) + 1),
            Just(i64::MIN),
            any::<i64>(),
        ]
        .prop_map(Value::from)
        .boxed(),
        Value::Bool(b) => Just(Value::Bool(!b)).boxed(),
        Value::Array(items) => {
            let items = items.clone();
            prop_oneof![
                Just(Value::Array(Vec::new())),
                (2usize..60).prop_map(move |n| Value::Array(
                    items
                        .iter()
                        .cycle()
                        .take(n.max(items.len()))
                        .cloned()
                        .collect()
                )),
            ]
            .boxed()
        }
        Value::Object(_) => Just(Value::Object(Default::default())).boxed(),
        Value::Null => hostile_value().boxed(),
    }
}

/// A path of `object`'s spec and what to put there: mostly a value of the same type,
/// sometimes anything.
fn mutation(object: &Value, all: &[Vec<String>]) -> BoxedStrategy<(usize, Value)> {
    let originals: Vec<Value> = all
        .iter()
        .map(|path| {
            path.iter().fold(object, |at, key| match at {
                Value::Array(items) => &items[key.parse::<usize>().unwrap()],
                other => &other[key.as_str()],
            })
        })
        .cloned()
        .collect();
    (0..all.len())
        .prop_flat_map(move |index| {
            let with = prop_oneof![4 => same_type(&originals[index]), 1 => hostile_value()];
            (Just(index), with)
        })
        .boxed()
}

/// The example's first object of `kind`, with the Secrets its file holds.
fn example(file: &str, kind: &str) -> (Value, Secrets) {
    let path = crate::support::repo_root().join("examples").join(file);
    let loaded = ecsfleet::cli::files::load(std::slice::from_ref(&path)).unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    let mut object = text
        .split("\n---")
        .map(|doc| serde_yaml_ng::from_str::<Value>(doc).unwrap())
        .find(|doc| doc["kind"] == kind)
        .unwrap();
    // The CLI writes no Secret: without this every case would stop at that refusal.
    if let Some(spec) = object["spec"].as_object_mut() {
        spec.remove("outputSecretName");
    }
    (object, Secrets::Files(loaded.secrets))
}

/// Decodes the mutated object; if it decodes, validates it; a refusal must name a field
/// and come before any AWS call.
fn check<K>(mut object: Value, path: &[String], with: Value, env: &Env, shared: K::Shared)
where
    K: Managed + serde::de::DeserializeOwned,
{
    replace(&mut object, path, with);
    // The fields the API server sets.
    object["metadata"]["uid"] = "u".into();
    object["metadata"]["generation"] = 1.into();
    let obj: K = match serde_path_to_error::deserialize(object) {
        Ok(obj) => obj,
        Err(error) => {
            let at = error.path().to_string();
            assert!(
                at.starts_with("spec"),
                "a decoding error names its field: {at}: {}",
                error.inner()
            );
            return;
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let Err(error) = obj.desired(env, Intent::Apply).await else {
            return;
        };
        let message = error.to_string();
        assert!(
            message.starts_with("spec") || message.starts_with("metadata"),
            "a refusal names its field: {message}"
        );
        let before = env.metrics().aws_requests();
        let pipeline = Pipeline::new(env.clone(), shared);
        let again = pipeline.sync(&obj).await.expect_err("refused again");
        assert_eq!(again.to_string(), message);
        assert_eq!(
            env.metrics().aws_requests(),
            before,
            "refused before any AWS call"
        );
    });
}

fn spec_paths(object: &Value) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    paths(&object["spec"], vec!["spec".to_string()], &mut out);
    out
}

macro_rules! mutated_specs_are_refused_by_field {
    ($name:ident, $kind:ty, $file:expr, $kind_name:expr, $shared:expr) => {
        #[test]
        fn $name() {
            let (object, secrets) = example($file, $kind_name);
            let env = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(crate::support::offline_env(secrets));
            let all = spec_paths(&object);
            let strategy = mutation(&object, &all);
            proptest!(config(400), |((index, with) in strategy.clone())| {
                let shared = $shared(&env);
                check::<$kind>(object.clone(), &all[index], with, &env, shared);
            });
        }
    };
}

fn daemon_shared(env: &Env) -> ecsfleet::daemon_service::Shared {
    ecsfleet::daemon_service::Shared::new(
        std::time::Duration::ZERO,
        ecsfleet::runtime::Directory::default(),
        &env.hosts,
    )
}

mutated_specs_are_refused_by_field!(
    daemon_service_specs,
    DaemonService,
    "datadog-agent.yaml",
    "DaemonService",
    daemon_shared
);
mutated_specs_are_refused_by_field!(
    integration_role_specs,
    IntegrationRole,
    "datadog-integration-role.yaml",
    "IntegrationRole",
    |_: &Env| ()
);
mutated_specs_are_refused_by_field!(
    scaling_group_specs,
    ScalingGroup,
    "haproxy-scaling-group.yaml",
    "ScalingGroup",
    |_: &Env| ()
);
