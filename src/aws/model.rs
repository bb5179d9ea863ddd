//! AWS's own service models as the contract for requests ecsfleet sends as JSON.
//!
//! Where a spec field is "the API's JSON shape, kept as given" (an ECS task definition),
//! the request is checked against the service's model before it is sent: every member
//! the API takes is accepted, anything else is refused with its path, and the value rules
//! the model states (types, enums, required members, lengths, ranges, patterns, unions)
//! hold. The models are botocore's, pinned in the emulator's environment and trimmed to the
//! operations concerned by `tests/emulator/service_model.py` (`scripts/generate-crds`
//! writes them to `src/aws/models/`; a test fails when the committed copy is not the
//! pinned one). A JSON `null` means the member is absent, as it does for AWS.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::{Error, Result};

/// A trimmed botocore service model.
#[derive(Debug, Deserialize)]
pub struct Model {
    /// Operation name → its input shape's name.
    operations: BTreeMap<String, String>,
    shapes: HashMap<String, Shape>,
}

#[derive(Debug, Deserialize)]
struct Ref {
    shape: String,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Shape {
    Structure {
        members: BTreeMap<String, Ref>,
        #[serde(default)]
        required: Vec<String>,
        #[serde(default)]
        union: bool,
    },
    List {
        member: Ref,
        min: Option<f64>,
        max: Option<f64>,
    },
    Map {
        key: Ref,
        value: Ref,
        min: Option<f64>,
        max: Option<f64>,
    },
    String {
        #[serde(rename = "enum")]
        values: Option<Vec<String>>,
        min: Option<f64>,
        max: Option<f64>,
        pattern: Option<String>,
    },
    Integer {
        min: Option<f64>,
        max: Option<f64>,
    },
    Long {
        min: Option<f64>,
        max: Option<f64>,
    },
    Double {
        min: Option<f64>,
        max: Option<f64>,
    },
    Float {
        min: Option<f64>,
        max: Option<f64>,
    },
    Boolean,
    Timestamp,
}

/// ECS's model: RegisterTaskDefinition and RegisterDaemonTaskDefinition.
pub static ECS: LazyLock<Model> = LazyLock::new(|| {
    serde_json::from_str(include_str!("models/ecs.json")).expect("the embedded ECS model")
});

/// How a check words a member the shape does not have.
#[derive(Clone, Copy, Debug)]
pub struct Unknown<'a>(pub &'a str);

impl Model {
    /// The names of the members `operation`'s input takes.
    pub fn input_members(&self, operation: &str) -> Vec<&str> {
        match self.input(operation) {
            Some(Shape::Structure { members, .. }) => members.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        }
    }

    fn input(&self, operation: &str) -> Option<&Shape> {
        self.operations
            .get(operation)
            .and_then(|name| self.shapes.get(name))
    }

    /// Checks `request` against `operation`'s input; `path` names the request in errors
    /// (e.g. `spec.taskDefinition`), `unknown` says what a member the input does not take
    /// is.
    pub fn check(
        &self,
        operation: &str,
        request: &Value,
        path: &str,
        unknown: Unknown<'_>,
    ) -> Result<()> {
        let shape = self
            .operations
            .get(operation)
            .unwrap_or_else(|| panic!("{operation} is not in the embedded model"));
        Check {
            model: self,
            unknown,
        }
        .value(shape, request, path)
    }
}

struct Check<'a> {
    model: &'a Model,
    unknown: Unknown<'a>,
}

impl Check<'_> {
    fn value(&self, shape_name: &str, value: &Value, path: &str) -> Result<()> {
        let shape = self
            .model
            .shapes
            .get(shape_name)
            .unwrap_or_else(|| panic!("{shape_name} is not in the embedded model"));
        match (shape, value) {
            (_, Value::Null) => Ok(()),
            (
                Shape::Structure {
                    members,
                    required,
                    union,
                },
                Value::Object(map),
            ) => self.structure(members, required, *union, map, path),
            (Shape::List { member, min, max }, Value::Array(items)) => {
                within(path, items.len() as f64, *min, *max, "items")?;
                items.iter().enumerate().try_for_each(|(index, item)| {
                    self.value(&member.shape, item, &format!("{path}[{index}]"))
                })
            }
            (
                Shape::Map {
                    key,
                    value,
                    min,
                    max,
                },
                Value::Object(map),
            ) => {
                within(path, map.len() as f64, *min, *max, "entries")?;
                map.iter().try_for_each(|(k, v)| {
                    let at = format!("{path}.{k}");
                    self.value(&key.shape, &Value::String(k.clone()), &at)?;
                    self.value(&value.shape, v, &at)
                })
            }
            (
                Shape::String {
                    values,
                    min,
                    max,
                    pattern,
                },
                Value::String(s),
            ) => string(path, s, values.as_deref(), *min, *max, pattern.as_deref()),
            (Shape::Integer { min, max }, Value::Number(n)) => {
                let n = n
                    .as_i64()
                    .filter(|n| i32::try_from(*n).is_ok())
                    .ok_or_else(|| Error::invalid(path, "must be a 32-bit integer"))?;
                within(path, n as f64, *min, *max, "")
            }
            (Shape::Long { min, max }, Value::Number(n)) => {
                let n = n
                    .as_i64()
                    .ok_or_else(|| Error::invalid(path, "must be an integer"))?;
                within(path, n as f64, *min, *max, "")
            }
            (Shape::Double { min, max } | Shape::Float { min, max }, Value::Number(n)) => {
                within(path, n.as_f64().unwrap_or(f64::NAN), *min, *max, "")
            }
            (Shape::Boolean, Value::Bool(_)) => Ok(()),
            (Shape::Timestamp, Value::String(_) | Value::Number(_)) => Ok(()),
            (shape, _) => Err(Error::invalid(path, shape.expected())),
        }
    }

    fn structure(
        &self,
        members: &BTreeMap<String, Ref>,
        required: &[String],
        union: bool,
        map: &Map<String, Value>,
        path: &str,
    ) -> Result<()> {
        let join = |key: &str| {
            if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            }
        };
        for (key, value) in map {
            let member = members
                .get(key)
                .ok_or_else(|| Error::invalid(join(key), self.unknown.0))?;
            self.value(&member.shape, value, &join(key))?;
        }
        if let Some(missing) = required
            .iter()
            .find(|key| map.get(*key).is_none_or(Value::is_null))
        {
            return Err(Error::invalid(join(missing), "is required"));
        }
        let set = map.values().filter(|v| !v.is_null()).count();
        if union && set != 1 {
            return Err(Error::invalid(
                path,
                format!(
                    "set exactly one of {}",
                    members.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        Ok(())
    }
}

impl Shape {
    fn expected(&self) -> &'static str {
        match self {
            Shape::Structure { .. } | Shape::Map { .. } => "must be an object",
            Shape::List { .. } => "must be a list",
            Shape::String { .. } => "must be a string",
            Shape::Integer { .. } | Shape::Long { .. } => "must be an integer",
            Shape::Double { .. } | Shape::Float { .. } => "must be a number",
            Shape::Boolean => "must be true or false",
            Shape::Timestamp => "must be a timestamp",
        }
    }
}

fn string(
    path: &str,
    s: &str,
    values: Option<&[String]>,
    min: Option<f64>,
    max: Option<f64>,
    pattern: Option<&str>,
) -> Result<()> {
    if let Some(values) = values.filter(|v| !v.iter().any(|v| v == s)) {
        return Err(Error::invalid(
            path,
            format!("{s:?} is not one of {}", values.join(", ")),
        ));
    }
    within(path, s.chars().count() as f64, min, max, "characters")?;
    if let Some(pattern) = pattern {
        // Smithy patterns are not anchored; AWS matches them against the whole value.
        let whole = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| Error::invalid(path, format!("the model's pattern: {e}")))?;
        if !whole.is_match(s) {
            return Err(Error::invalid(
                path,
                format!("must match {pattern}, as AWS takes it"),
            ));
        }
    }
    Ok(())
}

/// A size or value within the model's bounds; `unit` is empty for a number's value.
fn within(path: &str, n: f64, min: Option<f64>, max: Option<f64>, unit: &str) -> Result<()> {
    let describe = |bound: f64| {
        if unit.is_empty() {
            format!("{bound}")
        } else {
            format!("{bound} {unit}")
        }
    };
    if let Some(min) = min.filter(|min| n < *min) {
        return Err(Error::invalid(
            path,
            format!("must be at least {}", describe(min)),
        ));
    }
    if let Some(max) = max.filter(|max| n > *max) {
        return Err(Error::invalid(
            path,
            format!("must be at most {}", describe(max)),
        ));
    }
    Ok(())
}

/// The JSON with every `null` member and item left out: what AWS reads it as.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !v.is_null())
                .map(without_nulls)
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const UNKNOWN: Unknown<'static> = Unknown("is not a member ECS takes here");

    fn check(request: Value) -> std::result::Result<(), String> {
        ECS.check(
            "RegisterTaskDefinition",
            &request,
            "spec.taskDefinition",
            UNKNOWN,
        )
        .map_err(|e| e.to_string())
    }

    fn with_container(extra: Value) -> Value {
        let mut container = json!({"name": "a", "image": "i"});
        container
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"family": "f", "containerDefinitions": [container]})
    }

    #[test]
    fn every_member_of_the_model_is_taken_and_others_are_named() {
        assert_eq!(
            check(with_container(json!({
                "restartPolicy": {"enabled": true, "ignoredExitCodes": [0], "restartAttemptPeriod": 60},
                "linuxParameters": {"maxSwap": 0, "swappiness": 60, "tmpfs": [{"containerPath": "/t", "size": 64}]},
                "portMappings": [{"containerPortRange": "8000-8010", "appProtocol": "http2"}],
            }))),
            Ok(())
        );
        assert_eq!(
            check(with_container(json!({"memry": 64}))),
            Err(
                "spec.taskDefinition.containerDefinitions[0].memry: is not a member ECS takes here"
                    .into()
            )
        );
    }

    #[test]
    fn types_enums_required_members_and_bounds_are_the_models() {
        for (extra, expected) in [
            (
                json!({"portMappings": [{"containerPort": "80"}]}),
                "containerDefinitions[0].portMappings[0].containerPort: must be an integer",
            ),
            (
                json!({"portMappings": [{"protocol": "sctp"}]}),
                "containerDefinitions[0].portMappings[0].protocol: \"sctp\" is not one of tcp, udp",
            ),
            (
                json!({"restartPolicy": {"ignoredExitCodes": [1]}}),
                "containerDefinitions[0].restartPolicy.enabled: is required",
            ),
            (
                json!({"memory": 4_294_967_296_u64}),
                "containerDefinitions[0].memory: must be a 32-bit integer",
            ),
            (
                json!({"dockerLabels": {"a": 1}}),
                "containerDefinitions[0].dockerLabels.a: must be a string",
            ),
        ] {
            assert_eq!(
                check(with_container(extra)),
                Err(format!("spec.taskDefinition.{expected}"))
            );
        }
        let tags = json!({"family": "f", "containerDefinitions": [{"name": "a"}],
            "tags": [{"key": "k", "value": "v\u{0007}"}]});
        assert_eq!(
            check(tags),
            Err("spec.taskDefinition.tags[0].value: must match ([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*), as AWS takes it".into())
        );
    }

    #[test]
    fn null_means_absent() {
        assert_eq!(
            check(with_container(
                json!({"memory": null, "linuxParameters": null})
            )),
            Ok(())
        );
        assert_eq!(
            check(json!({"family": "f", "containerDefinitions": null})),
            Err("spec.taskDefinition.containerDefinitions: is required".into())
        );
        assert_eq!(
            without_nulls(&json!({"a": null, "b": [null, {"c": null, "d": 1}]})),
            json!({"b": [{"d": 1}]})
        );
    }

    #[test]
    fn a_daemon_task_definition_takes_its_own_members() {
        let request = with_container(json!({"portMappings": [{"containerPort": 80}]}));
        let error = ECS
            .check(
                "RegisterDaemonTaskDefinition",
                &request,
                "spec.taskDefinition",
                Unknown("is not supported in a daemon task definition"),
            )
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            "spec.taskDefinition.containerDefinitions[0].portMappings: is not supported in a daemon task definition"
        );
        assert!(
            ECS.input_members("RegisterDaemonTaskDefinition")
                .contains(&"pidMode")
        );
    }
}
