//! A permission set larger than one managed policy, split across several.
//!
//! IAM allows 6,144 characters (whitespace not counted) in a customer-managed policy, and
//! a vendor's full permission set is several times that. The set is seen as *grants*: one
//! action under one statement *shape* (effect, resources, conditions and Sid: the
//! statement without its actions). A *part* is the grants of one managed policy; it is
//! rendered as one statement per shape, with that shape's actions of the part.
//!
//! The split is sticky: a grant stays in the part where IAM already has it, new grants
//! go to the first part with room, and only when nothing has room is a part added. So
//! adding or removing one action rewrites one policy, an unchanged set rewrites none, and
//! a part whose grants are all gone is deleted. Only if the sticky split would need more
//! parts than the role may have attached are the grants packed again from scratch.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::document::{self, MANAGED_POLICY_MAX_CHARS};

/// The statement without its actions, canonical, as JSON text: two statements with the
/// same shape differ only in their actions.
pub type Shape = String;

/// Grants: shape → actions.
pub type Grants = BTreeMap<Shape, BTreeSet<String>>;

/// Parts by number; part 1 has the policy's base name, part N is `<name>-N`.
pub type Parts = BTreeMap<usize, Grants>;

/// The version every document is written with.
const VERSION: &str = "2012-10-17";

/// The one grant of a statement that is not split by action: one with `NotAction` (each
/// part of a split would allow more than the whole) is kept whole, rendered as written.
/// No action is empty, so the marker cannot be mistaken for one.
const WHOLE: &str = "";

/// A whole permission set, with what it takes to render and measure any part of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Permissions {
    /// Every grant.
    pub grants: Grants,
    /// Shape → the canonical statement without `Action`.
    templates: BTreeMap<Shape, Value>,
    /// Shape → characters of its statement with an empty action list.
    statement_sizes: BTreeMap<Shape, usize>,
    /// Characters of a document with no statement.
    empty_size: usize,
    max_chars: usize,
}

impl Permissions {
    /// The grants of `statements` (rendered statement objects, each with an `Action`
    /// list).
    pub fn new(statements: &[Value]) -> Permissions {
        Self::with_limit(statements, MANAGED_POLICY_MAX_CHARS)
    }

    pub fn with_limit(statements: &[Value], max_chars: usize) -> Permissions {
        let mut permissions = Permissions {
            grants: Grants::new(),
            templates: BTreeMap::new(),
            statement_sizes: BTreeMap::new(),
            empty_size: document::counted_size(&json!({"Version": VERSION, "Statement": []})),
            max_chars,
        };
        for statement in statements {
            let (shape, template, actions) = split_statement(statement);
            let mut empty = template.clone();
            if !is_whole(&actions) {
                empty["Action"] = json!([]);
            }
            permissions
                .statement_sizes
                .insert(shape.clone(), document::counted_size(&empty));
            permissions.templates.insert(shape.clone(), template);
            permissions.grants.entry(shape).or_default().extend(actions);
        }
        permissions
    }

    /// The characters of the document of `part`, exactly as `counted_size` of its
    /// rendering counts them.
    pub fn size(&self, part: &Grants) -> usize {
        let statements: usize = part
            .iter()
            .filter(|(_, actions)| !actions.is_empty())
            .map(|(shape, actions)| self.statement_size(shape, actions))
            .sum();
        let count = part.values().filter(|a| !a.is_empty()).count();
        self.empty_size + statements + count.saturating_sub(1)
    }

    fn statement_size(&self, shape: &str, actions: &BTreeSet<String>) -> usize {
        if is_whole(actions) {
            return self.statement_sizes[shape];
        }
        let listed: usize = actions.iter().map(|a| action_size(a)).sum();
        self.statement_sizes[shape] + listed + actions.len().saturating_sub(1)
    }

    /// How much `part` grows if `action` under `shape` is added to it.
    fn growth(&self, part: &Grants, shape: &str, action: &str) -> usize {
        match part.get(shape) {
            Some(actions) if !actions.is_empty() => action_size(action) + 1,
            _ => {
                let separator = usize::from(part.values().any(|a| !a.is_empty()));
                let listed = if action == WHOLE {
                    0
                } else {
                    action_size(action)
                };
                self.statement_sizes[shape] + listed + separator
            }
        }
    }

    /// The size of a part holding only the largest action of `shape`: what must fit in
    /// one policy for the set to be split at all.
    pub fn smallest_part_size(&self, shape: &str) -> usize {
        let largest = self.grants[shape]
            .iter()
            .filter(|a| *a != WHOLE)
            .map(|a| action_size(a))
            .max()
            .unwrap_or(0);
        self.empty_size + self.statement_sizes[shape] + largest
    }

    /// The policy document of `part`.
    pub fn render(&self, part: &Grants) -> Value {
        let statements: Vec<Value> = part
            .iter()
            .filter(|(_, actions)| !actions.is_empty())
            .map(|(shape, actions)| {
                let mut statement = self.templates[shape].clone();
                if !is_whole(actions) {
                    statement["Action"] = json!(actions);
                }
                statement
            })
            .collect();
        json!({"Version": VERSION, "Statement": statements})
    }

    /// The set packed from scratch: every grant, in order, into the first part with room.
    pub fn pack(&self) -> Parts {
        self.place(Parts::new(), &self.grants)
    }

    /// The split, given what IAM has: `live` holds, by part number, the grants each
    /// existing part has (`None` for a document that is not ours to read, whose grants
    /// are placed again). At most `max_parts` parts.
    pub fn assign(&self, live: &BTreeMap<usize, Option<Grants>>, max_parts: usize) -> Parts {
        let mut unplaced = self.grants.clone();
        let mut parts = Parts::new();
        for (&number, grants) in live {
            let mut part = Grants::new();
            let mut size = self.empty_size;
            for (shape, actions) in grants.iter().flatten() {
                for action in actions {
                    let wanted = unplaced
                        .get(shape)
                        .is_some_and(|left| left.contains(action));
                    if !wanted {
                        continue;
                    }
                    let growth = self.growth(&part, shape, action);
                    if size + growth > self.max_chars {
                        continue;
                    }
                    size += growth;
                    part.entry(shape.clone())
                        .or_default()
                        .insert(action.clone());
                    if let Some(left) = unplaced.get_mut(shape) {
                        left.remove(action);
                    }
                }
            }
            parts.insert(number, part);
        }
        let parts = self.place(parts, &unplaced);
        if parts.len() > max_parts {
            return self.pack();
        }
        parts
    }

    /// `grants` placed into `parts` (first part with room, else a new one with the
    /// lowest free number); empty parts dropped.
    fn place(&self, mut parts: Parts, grants: &Grants) -> Parts {
        let mut sizes: BTreeMap<usize, usize> = parts
            .iter()
            .map(|(&n, part)| (n, self.size(part)))
            .collect();
        for (shape, actions) in grants {
            for action in actions {
                let fits = parts.iter().find(|(number, part)| {
                    sizes[*number] + self.growth(part, shape, action) <= self.max_chars
                });
                let number = match fits {
                    Some((&number, _)) => number,
                    None => {
                        let number = (1..)
                            .find(|n| !parts.contains_key(n))
                            .expect("a free number");
                        parts.insert(number, Grants::new());
                        sizes.insert(number, self.empty_size);
                        number
                    }
                };
                let part = parts.get_mut(&number).expect("placed above");
                *sizes.get_mut(&number).expect("sized above") += self.growth(part, shape, action);
                part.entry(shape.clone())
                    .or_default()
                    .insert(action.clone());
            }
        }
        parts.retain(|_, part| part.values().any(|actions| !actions.is_empty()));
        parts
    }
}

/// The grants a live document holds, or `None` if it holds anything else (a statement
/// with both or neither of `Action` and `NotAction`, a `Principal`, another version):
/// such a document is rewritten.
pub fn grants_of(live: &Value) -> Option<Grants> {
    if live.get("Version").and_then(Value::as_str) != Some(VERSION) {
        return None;
    }
    let known = [
        "Sid",
        "Effect",
        "Action",
        "NotAction",
        "Resource",
        "NotResource",
        "Condition",
    ];
    let statements = match live.get("Statement")? {
        Value::Array(items) => items.clone(),
        one => vec![one.clone()],
    };
    let mut grants = Grants::new();
    for statement in &statements {
        let fields = statement.as_object()?;
        if fields.contains_key("Action") == fields.contains_key("NotAction")
            || fields.keys().any(|k| !known.contains(&k.as_str()))
        {
            return None;
        }
        let (shape, _, actions) = split_statement(statement);
        grants.entry(shape).or_default().extend(actions);
    }
    Some(grants)
}

/// The shape of a rendered statement.
pub fn shape_of(statement: &Value) -> Shape {
    split_statement(statement).0
}

/// Whether `actions` is the one grant of a statement kept whole.
fn is_whole<'a>(actions: impl IntoIterator<Item = &'a String>) -> bool {
    let mut actions = actions.into_iter();
    actions.next().is_some_and(|a| a == WHOLE) && actions.next().is_none()
}

/// A statement's shape, its template (canonical, without `Action`) and its actions; a
/// statement without `Action` (one with `NotAction`) is its own template, one grant.
fn split_statement(statement: &Value) -> (Shape, Value, Vec<String>) {
    let canonical = document::canonical_statement(statement);
    if canonical.get("Action").is_none() {
        return (canonical.to_string(), canonical, vec![WHOLE.to_string()]);
    }
    let mut template = canonical.clone();
    let actions = template
        .as_object_mut()
        .and_then(|fields| fields.remove("Action"))
        .map(|listed| {
            listed
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|a| a.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        })
        .unwrap_or_default();
    (template.to_string(), template, actions)
}

fn action_size(action: &str) -> usize {
    document::counted_size(&Value::String(action.to_string()))
}

/// Every grant exactly once across `parts`, and nothing else.
pub fn union(parts: &Parts) -> Grants {
    let mut all = Grants::new();
    for part in parts.values() {
        for (shape, actions) in part {
            all.entry(shape.clone())
                .or_default()
                .extend(actions.iter().cloned());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(sid: &str, actions: &[String]) -> Value {
        json!({"Sid": sid, "Effect": "Allow", "Action": actions, "Resource": ["*"]})
    }

    fn actions(prefix: &str, count: usize) -> Vec<String> {
        (0..count)
            .map(|i| format!("{prefix}:DescribeSomething{i:04}"))
            .collect()
    }

    fn vendor_size() -> Permissions {
        Permissions::new(&[
            statement("Ec2", &actions("ec2", 300)),
            statement("Rds", &actions("rds", 250)),
            statement("Logs", &actions("logs", 300)),
        ])
    }

    fn live(parts: &Parts) -> BTreeMap<usize, Option<Grants>> {
        parts.iter().map(|(&n, p)| (n, Some(p.clone()))).collect()
    }

    fn changed(before: &Parts, after: &Parts) -> Vec<usize> {
        let numbers: BTreeSet<usize> = before.keys().chain(after.keys()).copied().collect();
        numbers
            .into_iter()
            .filter(|n| before.get(n) != after.get(n))
            .collect()
    }

    #[test]
    fn sizes_are_exact() {
        let permissions = vendor_size();
        for part in permissions.pack().values() {
            assert_eq!(
                permissions.size(part),
                document::counted_size(&permissions.render(part))
            );
        }
        assert_eq!(
            permissions.size(&Grants::new()),
            document::counted_size(&permissions.render(&Grants::new()))
        );
    }

    /// A `NotAction` statement is one grant, rendered as written (splitting it would
    /// allow more than it does), and sized as exactly as the others.
    #[test]
    fn a_not_action_statement_stays_whole() {
        let whole = json!({"Sid": "AllButIam", "Effect": "Allow",
            "NotAction": ["iam:*", "organizations:*"], "Resource": ["*"]});
        let mut statements = vec![whole.clone()];
        statements.push(statement("Ec2", &actions("ec2", 600)));
        let permissions = Permissions::new(&statements);
        let parts = permissions.pack();
        assert!(parts.len() >= 2, "{} parts", parts.len());
        let rendered: Vec<Value> = parts.values().map(|p| permissions.render(p)).collect();
        let with_whole: Vec<&Value> = rendered
            .iter()
            .flat_map(|d| d["Statement"].as_array().unwrap())
            .filter(|s| s.get("NotAction").is_some())
            .collect();
        assert_eq!(with_whole, [&document::canonical_statement(&whole)]);
        for part in parts.values() {
            assert_eq!(
                permissions.size(part),
                document::counted_size(&permissions.render(part))
            );
        }
        // Read back from IAM's documents, the parts hold the same grants: nothing to
        // rewrite.
        let read_back: BTreeMap<usize, Option<Grants>> = parts
            .iter()
            .map(|(&n, part)| (n, grants_of(&permissions.render(part))))
            .collect();
        assert!(read_back.values().all(|g| g.is_some()), "{read_back:?}");
        let again = permissions.assign(&read_back, 10);
        assert!(changed(&parts, &again).is_empty());
    }

    #[test]
    fn a_vendor_size_set_is_split_within_limits_each_grant_once() {
        let permissions = vendor_size();
        let parts = permissions.pack();
        assert!(parts.len() >= 4, "{} parts", parts.len());
        assert_eq!(
            parts.keys().copied().collect::<Vec<_>>(),
            (1..=parts.len()).collect::<Vec<_>>()
        );
        for part in parts.values() {
            assert!(document::counted_size(&permissions.render(part)) <= MANAGED_POLICY_MAX_CHARS);
        }
        assert_eq!(union(&parts), permissions.grants);
        let total: usize = parts
            .values()
            .flat_map(|p| p.values())
            .map(BTreeSet::len)
            .sum();
        assert_eq!(total, 850, "no grant twice");
    }

    #[test]
    fn rendered_parts_read_back_as_their_grants() {
        let permissions = vendor_size();
        for part in permissions.pack().values() {
            assert_eq!(grants_of(&permissions.render(part)).as_ref(), Some(part));
        }
    }

    #[test]
    fn an_unchanged_set_keeps_its_split() {
        let permissions = vendor_size();
        let parts = permissions.pack();
        assert_eq!(permissions.assign(&live(&parts), 10), parts);
    }

    #[test]
    fn adding_or_removing_one_action_touches_one_part() {
        let before = vendor_size();
        let parts = before.pack();
        let mut statements = vec![
            statement("Ec2", &actions("ec2", 300)),
            statement("Rds", &actions("rds", 250)),
            statement("Logs", &actions("logs", 300)),
        ];
        // Add one action in the middle of the order.
        let mut rds = actions("rds", 250);
        rds.push("rds:DescribeSomething0100b".into());
        statements[1] = statement("Rds", &rds);
        let grown = Permissions::new(&statements);
        let after = grown.assign(&live(&parts), 10);
        assert_eq!(changed(&parts, &after).len(), 1, "one part rewritten");
        assert_eq!(union(&after), grown.grants);

        // Remove one action from the first statement.
        let mut ec2 = actions("ec2", 300);
        ec2.remove(7);
        statements[0] = statement("Ec2", &ec2);
        statements[1] = statement("Rds", &actions("rds", 250));
        let shrunk = Permissions::new(&statements);
        let after = shrunk.assign(&live(&parts), 10);
        assert_eq!(changed(&parts, &after), vec![1]);
    }

    #[test]
    fn removing_many_actions_drops_a_whole_part() {
        let permissions = vendor_size();
        let parts = permissions.pack();
        let last = *parts.keys().last().unwrap();
        let smaller = Permissions::new(&[statement("Ec2", &actions("ec2", 300))]);
        let after = smaller.assign(&live(&parts), 10);
        assert!(!after.contains_key(&last));
        assert!(after.len() < parts.len());
        assert_eq!(union(&after), smaller.grants);
    }

    #[test]
    fn new_parts_take_the_lowest_free_number() {
        let permissions = Permissions::with_limit(&[statement("A", &actions("ec2", 40))], 400);
        let mut live = live(&permissions.pack());
        assert!(live.len() >= 3);
        live.remove(&2);
        let parts = permissions.assign(&live, 10);
        assert!(parts.contains_key(&2), "{:?}", parts.keys());
        assert_eq!(union(&parts), permissions.grants);
    }

    #[test]
    fn too_many_parts_repacks_from_scratch() {
        let permissions = Permissions::with_limit(&[statement("A", &actions("ec2", 40))], 400);
        let packed = permissions.pack();
        // Every live part holds a single grant: sticky placement would need 40 parts.
        let (shape, all) = permissions.grants.iter().next().unwrap();
        let scattered: BTreeMap<usize, Option<Grants>> = all
            .iter()
            .enumerate()
            .map(|(i, action)| {
                let grant = Grants::from([(shape.clone(), BTreeSet::from([action.clone()]))]);
                (i + 1, Some(grant))
            })
            .collect();
        assert_eq!(permissions.assign(&scattered, packed.len()), packed);
    }

    #[test]
    fn foreign_documents_are_not_read_as_grants() {
        assert_eq!(
            grants_of(&json!({"Version": "2008-10-17", "Statement": []})),
            None
        );
        assert_eq!(
            grants_of(
                &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "NotAction": "iam:*", "Resource": "*"}]})
            ),
            None
        );
        assert_eq!(
            grants_of(
                &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]})
            ),
            None
        );
        // A NotAction statement is one grant, kept whole.
        let whole = grants_of(
            &json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}),
        )
        .unwrap();
        assert_eq!(
            whole.values().next().unwrap(),
            &BTreeSet::from([WHOLE.to_string()])
        );
        let one = grants_of(&json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}})).unwrap();
        assert_eq!(
            one.values().next().unwrap(),
            &BTreeSet::from(["s3:Get*".to_string()])
        );
    }
}
