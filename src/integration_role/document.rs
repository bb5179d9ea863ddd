//! IAM policy documents: rendering, validation, and semantic comparison.
//!
//! IAM returns documents URL-encoded, may turn a one-element list into a string, and
//! keeps statements, actions and resources in whatever order they were written. Two
//! documents are equal here when they grant the same: each is decoded and brought to a
//! canonical form (every list a sorted set, every statement canonical, statements
//! sorted) before comparing. A write happens only on a real difference.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::{Error, Result};

/// IAM's limit on a customer-managed policy document, in characters without whitespace.
pub const MANAGED_POLICY_MAX_CHARS: usize = 6144;

/// A document as IAM returned it: JSON, or URL-encoded JSON.
pub fn decode(text: &str) -> Option<Value> {
    serde_json::from_str(text)
        .ok()
        .or_else(|| serde_json::from_str(&percent_decode(text)?).ok())
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Whether two documents grant the same.
pub fn equivalent(a: &Value, b: &Value) -> bool {
    canonical(a) == canonical(b)
}

/// The canonical form: statements as a sorted list of canonical statements.
pub fn canonical(document: &Value) -> Value {
    let mut statements: Vec<Value> = as_list(document.get("Statement"))
        .iter()
        .map(canonical_statement)
        .collect();
    statements.sort_by_key(|s| s.to_string());
    statements.dedup();
    json!({
        "Version": document.get("Version").cloned().unwrap_or(json!("2008-10-17")),
        "Statement": statements,
    })
}

/// One statement in canonical form: every list a sorted set.
pub fn canonical_statement(statement: &Value) -> Value {
    let mut out = Map::new();
    let Some(fields) = statement.as_object() else {
        return statement.clone();
    };
    for (key, value) in fields {
        let canonical = match key.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => string_set(value),
            "Principal" | "NotPrincipal" => match value {
                Value::Object(kinds) => Value::Object(
                    kinds
                        .iter()
                        .map(|(kind, ids)| (kind.clone(), string_set(ids)))
                        .collect(),
                ),
                other => other.clone(), // "*"
            },
            "Condition" => match value {
                Value::Object(operators) => Value::Object(
                    operators
                        .iter()
                        .map(|(operator, keys)| {
                            let keys = match keys {
                                Value::Object(keys) => Value::Object(
                                    keys.iter()
                                        .map(|(k, v)| (k.clone(), string_set(v)))
                                        .collect(),
                                ),
                                other => other.clone(),
                            };
                            (operator.clone(), keys)
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        out.insert(key.clone(), canonical);
    }
    Value::Object(out)
}

fn as_list(value: Option<&Value>) -> Vec<Value> {
    match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.clone(),
        Some(other) => vec![other.clone()],
    }
}

/// A string or a list of strings (or of scalars) as a sorted, de-duplicated list.
fn string_set(value: &Value) -> Value {
    let set: BTreeSet<String> = as_list(Some(value))
        .iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    Value::Array(set.into_iter().map(Value::String).collect())
}

/// The trust policy of `principals` alone, with the external ID when given.
pub fn trust_policy(principals: &[String], external_id: Option<&str>) -> Value {
    Trust {
        principals: principals.to_vec(),
        ..Trust::default()
    }
    .render(external_id)
}

/// Who may assume the role, and on what conditions: the trust policy's parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trust {
    /// Normalized principal ARNs (accounts, roles, users): these present the external ID.
    pub principals: Vec<String>,
    /// AWS service principals, e.g. `ec2.amazonaws.com`.
    pub services: Vec<String>,
    /// OIDC providers whose tokens may assume the role.
    pub federated: Vec<Federated>,
    /// Conditions on the principals' statement besides the external ID: operator → key →
    /// values.
    pub conditions: BTreeMap<String, BTreeMap<String, Value>>,
    /// Trust actions besides `sts:AssumeRole` (`sts:TagSession`, ...), on every statement.
    pub actions: Vec<String>,
}

/// An OIDC provider's tokens, limited to subjects and audiences.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Federated {
    pub provider_arn: String,
    pub subjects: Vec<String>,
    pub audiences: Vec<String>,
}

impl Trust {
    /// Who may assume the role, in words: principals, services, providers.
    pub fn who(&self) -> String {
        let providers = self.federated.iter().map(|f| f.provider_arn.clone());
        self.principals
            .iter()
            .chain(&self.services)
            .cloned()
            .chain(providers)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The trust policy: one statement for the principals (with the external ID when
    /// given), one for the services, one per OIDC provider.
    pub fn render(&self, external_id: Option<&str>) -> Value {
        let actions = |first: &str| -> Value {
            if self.actions.is_empty() {
                json!(first)
            } else {
                let mut all = vec![first.to_string()];
                all.extend(self.actions.iter().cloned());
                json!(all)
            }
        };
        let mut statements = Vec::new();
        if !self.principals.is_empty() {
            let mut statement = json!({
                "Effect": "Allow",
                "Principal": {"AWS": self.principals},
                "Action": actions("sts:AssumeRole"),
            });
            let mut conditions = self.conditions.clone();
            if let Some(id) = external_id {
                conditions
                    .entry("StringEquals".into())
                    .or_default()
                    .insert("sts:ExternalId".into(), json!(id));
            }
            if !conditions.is_empty() {
                statement["Condition"] = json!(conditions);
            }
            statements.push(statement);
        }
        if !self.services.is_empty() {
            statements.push(json!({
                "Effect": "Allow",
                "Principal": {"Service": self.services},
                "Action": actions("sts:AssumeRole"),
            }));
        }
        for federated in &self.federated {
            // The condition keys are the issuer: the provider ARN's part after the type.
            let issuer = federated
                .provider_arn
                .split_once(":oidc-provider/")
                .map_or("", |(_, issuer)| issuer);
            let wildcard = federated.subjects.iter().any(|s| s.contains(['*', '?']));
            let mut conditions: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
            conditions
                .entry(if wildcard {
                    "StringLike"
                } else {
                    "StringEquals"
                })
                .or_default()
                .insert(format!("{issuer}:sub"), json!(federated.subjects));
            conditions
                .entry("StringEquals")
                .or_default()
                .insert(format!("{issuer}:aud"), json!(federated.audiences));
            statements.push(json!({
                "Effect": "Allow",
                "Principal": {"Federated": federated.provider_arn},
                "Action": actions("sts:AssumeRoleWithWebIdentity"),
                "Condition": conditions,
            }));
        }
        json!({"Version": "2012-10-17", "Statement": statements})
    }
}

/// One permission statement as the spec declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// operator → condition key → value(s)
    pub conditions: BTreeMap<String, BTreeMap<String, Value>>,
}

/// The permission policy document.
pub fn permission_policy(statements: &[Statement]) -> Value {
    let statements: Vec<Value> = statements.iter().map(render_statement).collect();
    json!({"Version": "2012-10-17", "Statement": statements})
}

/// One statement as IAM reads it.
pub fn render_statement(s: &Statement) -> Value {
    let mut statement = json!({
        "Effect": if s.allow { "Allow" } else { "Deny" },
        "Action": s.actions,
        "Resource": s.resources,
    });
    if let Some(sid) = &s.sid {
        statement["Sid"] = json!(sid);
    }
    if !s.conditions.is_empty() {
        statement["Condition"] = json!(s.conditions);
    }
    statement
}

/// The statements of a policy document given as JSON (`spec.policy.document`, as vendors
/// publish them), checked as IAM checks an identity-based policy and with `Action`,
/// `NotAction`, `Resource` and `NotResource` as lists. `field` names the document in
/// errors; `allow_full_access` lets a statement allow every action (or every action but
/// some, `NotAction`) on every resource.
pub fn document_statements(
    document: &Value,
    field: &str,
    allow_full_access: bool,
) -> Result<Vec<Value>> {
    let Value::Object(members) = document else {
        return Err(Error::invalid(
            field,
            "must be a policy document (an object)",
        ));
    };
    for (key, value) in members {
        match key.as_str() {
            "Statement" | "Id" => {}
            "Version" if matches!(value.as_str(), Some("2012-10-17" | "2008-10-17")) => {}
            "Version" => {
                return Err(Error::invalid(
                    format!("{field}.Version"),
                    "IAM takes 2012-10-17 or 2008-10-17",
                ));
            }
            _ => return Err(Error::invalid(format!("{field}.{key}"), NOT_IN_POLICY)),
        }
    }
    let statements = match members.get("Statement") {
        Some(Value::Array(items)) if !items.is_empty() => items.clone(),
        Some(Value::Object(one)) => vec![Value::Object(one.clone())],
        _ => {
            return Err(Error::invalid(
                format!("{field}.Statement"),
                "at least one statement is required",
            ));
        }
    };
    statements
        .iter()
        .enumerate()
        .map(|(index, s)| {
            document_statement(s, &format!("{field}.Statement[{index}]"), allow_full_access)
        })
        .collect()
}

const NOT_IN_POLICY: &str = "is not an element of an IAM policy document";

fn document_statement(statement: &Value, field: &str, allow_full_access: bool) -> Result<Value> {
    let Value::Object(members) = statement else {
        return Err(Error::invalid(field, "must be a statement (an object)"));
    };
    let at = |key: &str| format!("{field}.{key}");
    let mut out = Map::new();
    for (key, value) in members {
        match key.as_str() {
            "Sid" => match value.as_str() {
                Some(sid) if sid.chars().all(|c| c.is_ascii_alphanumeric()) => {}
                _ => {
                    return Err(Error::invalid(
                        at(key),
                        "letters and digits only, as IAM takes a Sid",
                    ));
                }
            },
            "Effect" if matches!(value.as_str(), Some("Allow" | "Deny")) => {}
            "Effect" => return Err(Error::invalid(at(key), "must be Allow or Deny")),
            "Action" | "NotAction" => {
                let actions = strings(value, &at(key))?;
                if let Some(bad) = actions.iter().position(|a| !is_valid_action(a)) {
                    return Err(Error::invalid(
                        format!("{}[{bad}]", at(key)),
                        format!(
                            "{:?} is not shaped service:Action (e.g. ec2:Describe*)",
                            actions[bad]
                        ),
                    ));
                }
            }
            "Resource" | "NotResource" => {
                let resources = strings(value, &at(key))?;
                if let Some(bad) = resources
                    .iter()
                    .position(|r| r != "*" && !r.starts_with("arn:"))
                {
                    return Err(Error::invalid(
                        format!("{}[{bad}]", at(key)),
                        format!("{:?} is neither \"*\" nor an ARN", resources[bad]),
                    ));
                }
            }
            "Condition" => condition(value, &at(key))?,
            "Principal" | "NotPrincipal" => {
                return Err(Error::invalid(
                    at(key),
                    "a permission policy names no principal (who may assume the role is spec.trust)",
                ));
            }
            _ => return Err(Error::invalid(at(key), NOT_IN_POLICY)),
        }
        let value = match key.as_str() {
            "Action" | "NotAction" | "Resource" | "NotResource" => as_list(Some(value)).into(),
            _ => value.clone(),
        };
        out.insert(key.clone(), value);
    }
    if !out.contains_key("Effect") {
        return Err(Error::invalid(at("Effect"), "is required (Allow or Deny)"));
    }
    for pair in [["Action", "NotAction"], ["Resource", "NotResource"]] {
        if pair.iter().filter(|k| out.contains_key(**k)).count() != 1 {
            return Err(Error::invalid(
                field,
                format!("needs exactly one of {} and {}", pair[0], pair[1]),
            ));
        }
    }
    let has = |key: &str, item: &str| {
        out.get(key)
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(|v| v == item))
    };
    let every_action = has("Action", "*") || out.contains_key("NotAction");
    if out["Effect"] == "Allow" && every_action && has("Resource", "*") && !allow_full_access {
        return Err(Error::invalid(
            field,
            "allows every action (or every action but some) on every resource; set spec.policy.allowFullAccess: true if that is really meant",
        ));
    }
    Ok(Value::Object(out))
}

/// A string or a non-empty list of strings.
fn strings(value: &Value, field: &str) -> Result<Vec<String>> {
    let items = as_list(Some(value));
    if items.is_empty() {
        return Err(Error::invalid(
            field,
            "an empty list is refused: name what it covers",
        ));
    }
    items
        .iter()
        .map(|v| v.as_str().map(str::to_string))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| Error::invalid(field, "must be a string or a list of strings"))
}

/// Operator → condition key → a value or a list of values, with operators IAM has.
fn condition(value: &Value, field: &str) -> Result<()> {
    let Value::Object(operators) = value else {
        return Err(Error::invalid(
            field,
            "must be an object: operator → key → values",
        ));
    };
    for (operator, keys) in operators {
        let at = format!("{field}.{operator}");
        if !is_condition_operator(operator) {
            return Err(Error::invalid(
                at,
                "is not an IAM condition operator (e.g. StringEquals, ArnLike, Bool, IpAddress, with IfExists or ForAllValues:/ForAnyValue:)",
            ));
        }
        let Value::Object(keys) = keys else {
            return Err(Error::invalid(
                at,
                "must be an object: condition key → values",
            ));
        };
        for (key, values) in keys {
            let scalar =
                |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
            let fine = match values {
                Value::Array(items) => !items.is_empty() && items.iter().all(scalar),
                other => scalar(other),
            };
            if !fine {
                return Err(Error::invalid(
                    format!("{at}.{key}"),
                    "must be a value or a non-empty list of values",
                ));
            }
        }
    }
    Ok(())
}

/// The characters IAM counts against a managed policy's size limit.
pub fn counted_size(document: &Value) -> usize {
    document
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .count()
}

/// `service:Action`, with `*` and `?` wildcards in the action, or `*` alone.
/// Whether IAM takes `operator` as a condition operator: one of its documented operators,
/// optionally with `IfExists`, or set-qualified with `ForAllValues:`/`ForAnyValue:`.
pub fn is_condition_operator(operator: &str) -> bool {
    const OPERATORS: &[&str] = &[
        "StringEquals",
        "StringNotEquals",
        "StringEqualsIgnoreCase",
        "StringNotEqualsIgnoreCase",
        "StringLike",
        "StringNotLike",
        "NumericEquals",
        "NumericNotEquals",
        "NumericLessThan",
        "NumericLessThanEquals",
        "NumericGreaterThan",
        "NumericGreaterThanEquals",
        "DateEquals",
        "DateNotEquals",
        "DateLessThan",
        "DateLessThanEquals",
        "DateGreaterThan",
        "DateGreaterThanEquals",
        "Bool",
        "BinaryEquals",
        "IpAddress",
        "NotIpAddress",
        "ArnEquals",
        "ArnLike",
        "ArnNotEquals",
        "ArnNotLike",
    ];
    if operator == "Null" {
        return true;
    }
    let operator = operator
        .strip_prefix("ForAllValues:")
        .or_else(|| operator.strip_prefix("ForAnyValue:"))
        .unwrap_or(operator);
    let operator = operator.strip_suffix("IfExists").unwrap_or(operator);
    OPERATORS.contains(&operator)
}

pub fn is_valid_action(action: &str) -> bool {
    if action == "*" {
        return true;
    }
    let Some((service, name)) = action.split_once(':') else {
        return false;
    };
    !service.is_empty()
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '?')
}

/// A 12-digit account ID becomes `arn:aws:iam::<id>:root`; an IAM or STS principal ARN
/// stays as it is; anything else is refused.
pub fn normalize_principal(principal: &str) -> Option<String> {
    if principal.len() == 12 && principal.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!("arn:aws:iam::{principal}:root"));
    }
    let parts: Vec<&str> = principal.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && matches!(parts[2], "iam" | "sts")
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && (parts[5] == "root"
            || ["role/", "user/", "assumed-role/", "federated-user/"]
                .iter()
                .any(|prefix| parts[5].starts_with(prefix) && parts[5].len() > prefix.len()));
    valid.then(|| principal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A published document is taken as given (single values become lists), and what
    /// IAM refuses of an identity-based policy is refused naming the element.
    #[test]
    fn a_published_document_is_taken_as_iam_takes_it() {
        let published = json!({"Version": "2012-10-17", "Statement": [
            {"Sid": "AllButIam", "Effect": "Allow", "NotAction": "iam:*", "Resource": "*"},
            {"Effect": "Deny", "Action": ["s3:*"], "NotResource": ["arn:aws:s3:::logs/*"],
             "Condition": {"ForAnyValue:StringNotEqualsIfExists": {"aws:PrincipalTag/team": ["a", "b"]},
                           "Bool": {"aws:SecureTransport": false}}}]});
        let statements = document_statements(&published, "spec.policy.document", true).unwrap();
        assert_eq!(statements[0]["NotAction"], json!(["iam:*"]));
        assert_eq!(statements[0]["Resource"], json!(["*"]));
        assert_eq!(
            statements[1]["Condition"],
            published["Statement"][1]["Condition"]
        );

        let field = "spec.policy.document";
        for (document, expected) in [
            (
                json!({"Statement": []}),
                "spec.policy.document.Statement: at least one statement is required",
            ),
            (
                json!({"Version": "2020-01-01", "Statement": {}}),
                "spec.policy.document.Version: IAM takes 2012-10-17 or 2008-10-17",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Principal": "*"}}),
                "spec.policy.document.Statement[0].Principal: a permission policy names no principal (who may assume the role is spec.trust)",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:PutObject", "Resource": "*"}}),
                "spec.policy.document.Statement[0]: needs exactly one of Action and NotAction",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject"}}),
                "spec.policy.document.Statement[0]: needs exactly one of Resource and NotResource",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": [], "Resource": "*"}}),
                "spec.policy.document.Statement[0].Action: an empty list is refused: name what it covers",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "s3 GetObject", "Resource": "*"}}),
                "spec.policy.document.Statement[0].Action[0]: \"s3 GetObject\" is not shaped service:Action (e.g. ec2:Describe*)",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "my-bucket"}}),
                "spec.policy.document.Statement[0].Resource[0]: \"my-bucket\" is neither \"*\" nor an ARN",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": {"StringEqualz": {"k": "v"}}}}),
                "spec.policy.document.Statement[0].Condition.StringEqualz: is not an IAM condition operator (e.g. StringEquals, ArnLike, Bool, IpAddress, with IfExists or ForAllValues:/ForAnyValue:)",
            ),
            (
                json!({"Statement": {"Action": "s3:GetObject", "Resource": "*"}}),
                "spec.policy.document.Statement[0].Effect: is required (Allow or Deny)",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}}),
                "spec.policy.document.Statement[0]: allows every action (or every action but some) on every resource; set spec.policy.allowFullAccess: true if that is really meant",
            ),
            (
                json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Sid": "not ok"}}),
                "spec.policy.document.Statement[0].Sid: letters and digits only, as IAM takes a Sid",
            ),
        ] {
            let error = document_statements(&document, field, false)
                .unwrap_err()
                .to_string();
            assert_eq!(error, expected);
        }
    }

    #[test]
    fn condition_operators_are_iams() {
        for valid in [
            "StringEquals",
            "ArnLikeIfExists",
            "ForAllValues:StringLike",
            "ForAnyValue:StringEqualsIfExists",
            "Null",
            "Bool",
        ] {
            assert!(is_condition_operator(valid), "{valid}");
        }
        for invalid in [
            "StringEqualz",
            "stringequals",
            "ForEveryValue:StringLike",
            "NullIfExists",
            "",
        ] {
            assert!(!is_condition_operator(invalid), "{invalid}");
        }
    }

    fn doc(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn url_encoded_documents_decode() {
        let encoded = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%5D%7D";
        assert_eq!(
            decode(encoded),
            Some(json!({"Version": "2012-10-17", "Statement": []}))
        );
        assert_eq!(decode(r#"{"a":1}"#), Some(json!({"a": 1})));
        assert_eq!(decode("%ZZ"), None);
    }

    #[test]
    fn a_string_equals_a_one_element_list() {
        let a = doc(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}"#,
        );
        let b = doc(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:GetObject"],"Resource":["*"]}]}"#,
        );
        assert!(equivalent(&a, &b));
    }

    #[test]
    fn statement_action_and_resource_order_do_not_matter() {
        let a = doc(r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["ec2:Describe*","s3:List*"],"Resource":["b","a"]},
            {"Effect":"Deny","Action":"iam:*","Resource":"*"}]}"#);
        let b = doc(r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Action":["iam:*"],"Resource":"*"},
            {"Resource":["a","b"],"Action":["s3:List*","ec2:Describe*"],"Effect":"Allow"}]}"#);
        assert!(equivalent(&a, &b));
    }

    #[test]
    fn real_differences_are_seen() {
        let base = trust_policy(&["arn:aws:iam::464622532012:root".into()], Some("secret-1"));
        let other_id = trust_policy(&["arn:aws:iam::464622532012:root".into()], Some("secret-2"));
        let no_id = trust_policy(&["arn:aws:iam::464622532012:root".into()], None);
        let other_account =
            trust_policy(&["arn:aws:iam::111122223333:root".into()], Some("secret-1"));
        assert!(!equivalent(&base, &other_id));
        assert!(!equivalent(&base, &no_id));
        assert!(!equivalent(&base, &other_account));
        let allow = permission_policy(&[statement(true, &["s3:GetObject"])]);
        let deny = permission_policy(&[statement(false, &["s3:GetObject"])]);
        assert!(!equivalent(&allow, &deny));
    }

    #[test]
    fn trust_policy_from_iam_round_trips_through_url_encoding() {
        let rendered = trust_policy(&["arn:aws:iam::464622532012:root".into()], Some("abc"));
        // What IAM answers: compact JSON, URL-encoded, principal list collapsed.
        let answered = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::464622532012:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"abc"}}}]}"#;
        let encoded: String = answered
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        assert!(equivalent(&rendered, &decode(&encoded).unwrap()));
    }

    fn statement(allow: bool, actions: &[&str]) -> Statement {
        Statement {
            sid: None,
            allow,
            actions: actions.iter().map(|a| a.to_string()).collect(),
            resources: vec!["*".into()],
            conditions: BTreeMap::new(),
        }
    }

    #[test]
    fn actions_must_look_like_service_action() {
        for good in [
            "s3:GetObject",
            "ec2:Describe*",
            "*",
            "cloudwatch:Get?etric*",
            "es:ListDomainNames",
        ] {
            assert!(is_valid_action(good), "{good}");
        }
        for bad in [
            "s3",
            "S3:GetObject",
            ":Get",
            "s3:",
            "s3:Get Object",
            "s3:Get:Object",
            "",
        ] {
            assert!(!is_valid_action(bad), "{bad}");
        }
    }

    #[test]
    fn principals_are_normalized_or_refused() {
        assert_eq!(
            normalize_principal("464622532012").as_deref(),
            Some("arn:aws:iam::464622532012:root")
        );
        assert!(normalize_principal("arn:aws:iam::464622532012:role/DatadogIntegration").is_some());
        assert!(normalize_principal("arn:aws-cn:iam::464622532012:root").is_some());
        for bad in [
            "46462253201",
            "4646225320123",
            "datadog",
            "arn:aws:iam::46462253201:root",
            "arn:aws:s3:::bucket",
            "arn:aws:iam::464622532012:role/",
        ] {
            assert_eq!(normalize_principal(bad), None, "{bad}");
        }
    }

    #[test]
    fn size_counts_characters_without_whitespace() {
        assert_eq!(counted_size(&json!({"a": "b c"})), 10); // {"a":"bc"}
    }
}
