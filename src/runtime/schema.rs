//! The CRD's own OpenAPI schema, checked by ecsfleet: the API server refuses what breaks
//! it before the controller ever sees it, but the CLI reads files no API server has
//! seen. Checking the same schema here makes the two refuse the same, with the field's
//! path, and a constraint added to a type is enforced everywhere at once.
//!
//! Checked: `properties`, `items`, `additionalProperties`, `enum`, `pattern`,
//! `minimum`/`maximum`, `minLength`/`maxLength` (characters), `minItems`/`maxItems`,
//! `maxProperties`. Types
//! and required fields are left to decoding; cross-field rules (CEL) to each kind's
//! validation.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::{Error, Result};

/// Checks `value` (found at `path`, e.g. `spec`) against `schema`; the first violation
/// is refused naming its field.
pub fn check(schema: &Value, value: &Value, path: &str) -> Result<()> {
    if value.is_null() {
        return Ok(());
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        let listed: Vec<String> = options
            .iter()
            .filter(|o| !o.is_null())
            .map(|o| o.to_string())
            .collect();
        return Err(Error::invalid(
            path,
            format!("{value} is not one of {}", listed.join(", ")),
        ));
    }
    match value {
        Value::String(text) => check_string(schema, text, path)?,
        Value::Number(number) => {
            let n = number.as_f64().unwrap_or(f64::NAN);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                return Err(Error::invalid(path, format!("must be at least {min}")));
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                return Err(Error::invalid(path, format!("must be at most {max}")));
            }
        }
        Value::Array(items) => {
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                return Err(Error::invalid(
                    path,
                    format!("needs at least {min} item(s)"),
                ));
            }
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                return Err(Error::invalid(
                    path,
                    format!("has {} items; at most {max} are allowed", items.len()),
                ));
            }
            if let Some(item_schema) = schema.get("items") {
                for (index, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{index}]"))?;
                }
            }
        }
        Value::Object(fields) => {
            if let Some(max) = schema.get("maxProperties").and_then(Value::as_u64)
                && fields.len() as u64 > max
            {
                return Err(Error::invalid(
                    path,
                    format!("has {} entries; at most {max} are allowed", fields.len()),
                ));
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            for (name, field) in fields {
                let sub = properties.and_then(|p| p.get(name)).or(additional);
                if let Some(sub) = sub {
                    check(sub, field, &format!("{path}.{name}"))?;
                }
            }
        }
        Value::Bool(_) | Value::Null => {}
    }
    Ok(())
}

fn check_string(schema: &Value, text: &str, path: &str) -> Result<()> {
    let length = text.chars().count() as u64;
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
        && length < min
    {
        return Err(Error::invalid(
            path,
            match min {
                1 => "must not be empty".to_string(),
                _ => format!("must have at least {min} characters"),
            },
        ));
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
        && length > max
    {
        return Err(Error::invalid(
            path,
            format!("has {length} characters; at most {max} are allowed"),
        ));
    }
    if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
        && !matches(pattern, text)
    {
        let shown: String = text.chars().take(64).collect();
        return Err(Error::invalid(
            path,
            format!("{shown:?} does not match {pattern}"),
        ));
    }
    Ok(())
}

/// Whether `text` matches `pattern`; each pattern is compiled once per process. A
/// pattern the engine cannot compile (none of ours) matches everything: the API server
/// still checks it in a cluster.
pub fn matches(pattern: &str, text: &str) -> bool {
    static COMPILED: OnceLock<Mutex<HashMap<String, Option<regex::Regex>>>> = OnceLock::new();
    let mut compiled = COMPILED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let regex = compiled
        .entry(pattern.to_string())
        .or_insert_with(|| regex::Regex::new(pattern).ok());
    regex.as_ref().is_none_or(|r| r.is_match(text))
}

/// The `spec` schema of the CRD of kind `K`.
pub fn spec_schema<K: kube::CustomResourceExt>() -> Value {
    let crd = K::crd();
    crd.spec
        .versions
        .first()
        .and_then(|v| v.schema.as_ref())
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .map(|s| s["properties"]["spec"].clone())
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Value {
        json!({"properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
            "mode": {"type": "string", "enum": ["A", "B", null], "nullable": true},
            "count": {"type": "integer", "minimum": 1, "maximum": 3},
            "items": {"type": "array", "maxItems": 2, "items": {"type": "string", "minLength": 1}},
            "tags": {"type": "object", "maxProperties": 2, "additionalProperties": {"type": "string", "maxLength": 3}}
        }})
    }

    #[test]
    fn each_constraint_names_its_field() {
        for (value, expected) in [
            (
                json!({"name": "Abc"}),
                "spec.name: \"Abc\" does not match ^[a-z]+$",
            ),
            (
                json!({"name": "abcdef"}),
                "spec.name: has 6 characters; at most 5",
            ),
            (
                json!({"mode": "C"}),
                "spec.mode: \"C\" is not one of \"A\", \"B\"",
            ),
            (json!({"count": 0}), "spec.count: must be at least 1"),
            (json!({"count": 4}), "spec.count: must be at most 3"),
            (
                json!({"items": ["a", "b", "c"]}),
                "spec.items: has 3 items; at most 2",
            ),
            (
                json!({"items": ["a", ""]}),
                "spec.items[1]: must not be empty",
            ),
            (
                json!({"tags": {"k": "long"}}),
                "spec.tags.k: has 4 characters",
            ),
            (
                json!({"tags": {"a": "", "b": "", "c": ""}}),
                "spec.tags: has 3 entries; at most 2",
            ),
        ] {
            let error = check(&schema(), &value, "spec").unwrap_err().to_string();
            assert!(
                error.starts_with(expected),
                "{error} should start with {expected}"
            );
        }
        let valid =
            json!({"name": "abc", "mode": null, "count": 2, "items": ["a"], "tags": {"k": "v"}});
        assert!(check(&schema(), &valid, "spec").is_ok());
    }
}
