//! The ECS cluster query language, evaluated locally against described container
//! instances.
//!
//! One `ListContainerInstances` per cluster serves every DaemonService of that cluster,
//! whatever their `instanceFilter`, so the filter is applied here rather than by ECS. The
//! same expression also becomes the service's `memberOf` placement constraint, so ECS
//! places tasks on exactly the instances counted here. Supported: `attribute:NAME`,
//! `ec2InstanceId`, `agentConnected`, `agentVersion`, `runningTasksCount` as subjects;
//! `==`, `!=`, `>`, `>=`, `<`, `<=`, `=~` (wildcard `*`), `!~`, `exists`, `!exists`,
//! `in [...]`, `not in [...]`; `and`/`&&`, `or`/`||`, `not`/`!` and parentheses.
//! Task-group subjects (`task:group`) depend on other services' tasks and are refused.

use std::collections::BTreeMap;
use std::fmt;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Subject, Op, String),
    In(Subject, Vec<String>),
    Exists(Subject),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    Attribute(String),
    Ec2InstanceId,
    AgentConnected,
    AgentVersion,
    RunningTasksCount,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Like,
    NotLike,
}

/// What the filter needs to know of a container instance.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceFacts {
    pub ec2_instance_id: Option<String>,
    pub agent_connected: bool,
    pub agent_version: Option<String>,
    pub running_tasks_count: i32,
    /// Attribute name → value (`None` for attributes without a value).
    pub attributes: BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The longest expression ECS accepts in a placement constraint.
pub const MAX_LENGTH: usize = 2000;
/// How deeply parentheses and `not` may nest. Far beyond any real filter, and low enough
/// that parsing, matching and dropping the tree never come near the stack's limit.
pub const MAX_NESTING: usize = 32;

/// Parses a cluster query language expression. Bounded: refuses, without recursing, an
/// expression longer than ECS accepts or nested deeper than [`MAX_NESTING`].
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    if input.len() > MAX_LENGTH {
        return Err(ParseError(format!(
            "the expression has {} characters; ECS accepts at most {MAX_LENGTH}",
            input.len()
        )));
    }
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(ParseError("the expression is empty".into()));
    }
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
    };
    let expr = parser.or()?;
    match parser.peek() {
        None => Ok(expr),
        Some(token) => Err(ParseError(format!("unexpected {token:?}"))),
    }
}

impl Expr {
    pub fn matches(&self, instance: &InstanceFacts) -> bool {
        match self {
            Expr::And(a, b) => a.matches(instance) && b.matches(instance),
            Expr::Or(a, b) => a.matches(instance) || b.matches(instance),
            Expr::Not(e) => !e.matches(instance),
            Expr::Exists(subject) => value_of(subject, instance).is_some(),
            Expr::In(subject, values) => {
                value_of(subject, instance).is_some_and(|v| values.contains(&v))
            }
            Expr::Compare(subject, op, expected) => match value_of(subject, instance) {
                None => matches!(op, Op::Ne | Op::NotLike),
                Some(actual) => compare(&actual, *op, expected),
            },
        }
    }
}

fn value_of(subject: &Subject, instance: &InstanceFacts) -> Option<String> {
    match subject {
        Subject::Attribute(name) => instance
            .attributes
            .get(name)
            .map(|value| value.clone().unwrap_or_default()),
        Subject::Ec2InstanceId => instance.ec2_instance_id.clone(),
        Subject::AgentConnected => Some(instance.agent_connected.to_string()),
        Subject::AgentVersion => instance.agent_version.clone(),
        Subject::RunningTasksCount => Some(instance.running_tasks_count.to_string()),
    }
}

fn compare(actual: &str, op: Op, expected: &str) -> bool {
    let ordering = match (actual.parse::<f64>(), expected.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b),
        _ => Some(actual.cmp(expected)),
    };
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => actual == expected,
        Op::Ne => actual != expected,
        Op::Gt => ordering == Some(Greater),
        Op::Ge => matches!(ordering, Some(Greater | Equal)),
        Op::Lt => ordering == Some(Less),
        Op::Le => matches!(ordering, Some(Less | Equal)),
        Op::Like => wildcard(expected, actual),
        Op::NotLike => !wildcard(expected, actual),
    }
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Word(String),
    Op(&'static str),
    Open,
    Close,
    OpenList,
    CloseList,
    Comma,
}

fn tokenize(input: &str) -> Result<Vec<Token>, ParseError> {
    const OPERATORS: &[&str] = &[
        "!exists", "==", "!=", ">=", "<=", "=~", "!~", "&&", "||", ">", "<", "!",
    ];
    let mut tokens = Vec::new();
    let mut rest = input.trim_start();
    while let Some(c) = rest.chars().next() {
        let punctuation = match c {
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            '[' => Some(Token::OpenList),
            ']' => Some(Token::CloseList),
            ',' => Some(Token::Comma),
            _ => None,
        };
        if let Some(token) = punctuation {
            tokens.push(token);
            rest = rest[1..].trim_start();
            continue;
        }
        if let Some(op) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Op(op));
            rest = rest[op.len()..].trim_start();
            continue;
        }
        if c == '"' || c == '\'' {
            let end = rest[1..]
                .find(c)
                .ok_or_else(|| ParseError("unterminated quoted value".into()))?;
            tokens.push(Token::Word(rest[1..=end].to_string()));
            rest = rest[end + 2..].trim_start();
            continue;
        }
        let end = rest
            .find(|c: char| c.is_whitespace() || "()[],=!<>&|".contains(c))
            .unwrap_or(rest.len());
        if end == 0 {
            return Err(ParseError(format!("unexpected character {c:?}")));
        }
        tokens.push(Token::Word(rest[..end].to_string()));
        rest = rest[end..].trim_start();
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    /// Parentheses and `not`s open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while self.keyword("or") || self.peek() == Some(&Token::Op("||")) {
            self.next();
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.keyword("and") || self.peek() == Some(&Token::Op("&&")) {
            self.next();
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.keyword("not") || self.peek() == Some(&Token::Op("!")) {
            self.next();
            return self.nested(|parser| Ok(Expr::Not(Box::new(parser.unary()?))));
        }
        if self.peek() == Some(&Token::Open) {
            self.next();
            return self.nested(|parser| {
                let inner = parser.or()?;
                match parser.next() {
                    Some(Token::Close) => Ok(inner),
                    _ => Err(ParseError("missing ')'".into())),
                }
            });
        }
        self.condition()
    }

    /// Parses one level deeper, refusing to go past [`MAX_NESTING`].
    fn nested(
        &mut self,
        parse: impl FnOnce(&mut Self) -> Result<Expr, ParseError>,
    ) -> Result<Expr, ParseError> {
        if self.depth == MAX_NESTING {
            return Err(ParseError(format!(
                "parentheses and `not` nest deeper than {MAX_NESTING} levels"
            )));
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn condition(&mut self) -> Result<Expr, ParseError> {
        let subject = match self.next() {
            Some(Token::Word(word)) => subject(&word)?,
            other => return Err(ParseError(format!("expected a subject, found {other:?}"))),
        };
        if self.keyword("exists") {
            self.next();
            return Ok(Expr::Exists(subject));
        }
        if self.peek() == Some(&Token::Op("!exists")) {
            self.next();
            return Ok(Expr::Not(Box::new(Expr::Exists(subject))));
        }
        if self.keyword("in") {
            self.next();
            return Ok(Expr::In(subject, self.list()?));
        }
        if self.keyword("not") {
            self.next();
            if !self.keyword("in") {
                return Err(ParseError("expected 'in' after 'not'".into()));
            }
            self.next();
            return Ok(Expr::Not(Box::new(Expr::In(subject, self.list()?))));
        }
        let op = match self.next() {
            Some(Token::Op("==")) => Op::Eq,
            Some(Token::Op("!=")) => Op::Ne,
            Some(Token::Op(">")) => Op::Gt,
            Some(Token::Op(">=")) => Op::Ge,
            Some(Token::Op("<")) => Op::Lt,
            Some(Token::Op("<=")) => Op::Le,
            Some(Token::Op("=~")) => Op::Like,
            Some(Token::Op("!~")) => Op::NotLike,
            other => return Err(ParseError(format!("expected an operator, found {other:?}"))),
        };
        match self.next() {
            Some(Token::Word(value)) => Ok(Expr::Compare(subject, op, value)),
            other => Err(ParseError(format!("expected a value, found {other:?}"))),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, ParseError> {
        if self.next() != Some(Token::OpenList) {
            return Err(ParseError("expected '[' to start a list".into()));
        }
        let mut values = Vec::new();
        loop {
            match self.next() {
                Some(Token::Word(value)) => values.push(value),
                other => {
                    return Err(ParseError(format!(
                        "expected a list value, found {other:?}"
                    )));
                }
            }
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::CloseList) => return Ok(values),
                _ => return Err(ParseError("expected ',' or ']' in a list".into())),
            }
        }
    }
}

fn subject(word: &str) -> Result<Subject, ParseError> {
    if let Some(name) = word.strip_prefix("attribute:") {
        if name.is_empty() {
            return Err(ParseError("attribute: needs a name".into()));
        }
        return Ok(Subject::Attribute(name.to_string()));
    }
    match word {
        "ec2InstanceId" => Ok(Subject::Ec2InstanceId),
        "agentConnected" => Ok(Subject::AgentConnected),
        "agentVersion" => Ok(Subject::AgentVersion),
        "runningTasksCount" => Ok(Subject::RunningTasksCount),
        other if other.starts_with("task:") => Err(ParseError(format!(
            "{other} is not supported: a DaemonService filter must depend on the instance only"
        ))),
        other => Err(ParseError(format!("unknown subject {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(pairs: &[(&str, &str)]) -> InstanceFacts {
        InstanceFacts {
            ec2_instance_id: Some("i-123".into()),
            agent_connected: true,
            running_tasks_count: 2,
            attributes: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
            ..InstanceFacts::default()
        }
    }

    #[test]
    fn table_of_expressions() {
        let linux_t3 = instance(&[
            ("ecs.os-type", "linux"),
            ("ecs.instance-type", "t3.large"),
            ("ecs.availability-zone", "eu-west-1a"),
        ]);
        let cases = [
            ("attribute:ecs.os-type == linux", true),
            ("attribute:ecs.os-type != linux", false),
            ("attribute:ecs.instance-type =~ t3.*", true),
            ("attribute:ecs.instance-type !~ t3.*", false),
            ("attribute:ecs.instance-type =~ *.large", true),
            (
                "attribute:ecs.availability-zone in [eu-west-1a, eu-west-1b]",
                true,
            ),
            ("attribute:ecs.availability-zone not in [eu-west-1a]", false),
            ("attribute:gpu exists", false),
            ("attribute:gpu !exists", true),
            (
                "attribute:ecs.os-type == linux and attribute:gpu exists",
                false,
            ),
            (
                "attribute:ecs.os-type == windows or ec2InstanceId == i-123",
                true,
            ),
            (
                "not (attribute:ecs.os-type == windows) && agentConnected == true",
                true,
            ),
            ("runningTasksCount >= 2 and runningTasksCount < 3", true),
            ("runningTasksCount > 10", false),
            ("attribute:ecs.os-type == 'linux'", true),
            ("ATTRIBUTE:ecs.os-type == linux", false),
        ];
        for (expression, expected) in cases {
            let result = parse(expression).map(|e| e.matches(&linux_t3));
            if expression.starts_with("ATTRIBUTE") {
                assert!(result.is_err(), "{expression} should not parse");
                continue;
            }
            assert_eq!(result, Ok(expected), "{expression}");
        }
    }

    #[test]
    fn missing_attribute_is_unequal_to_anything() {
        let bare = instance(&[]);
        assert!(!parse("attribute:x == 1").unwrap().matches(&bare));
        assert!(parse("attribute:x != 1").unwrap().matches(&bare));
    }

    #[test]
    fn bad_expressions_are_refused_with_a_reason() {
        for expression in [
            "",
            "attribute:ecs.os-type ==",
            "attribute:ecs.os-type linux",
            "(attribute:a == b",
            "attribute:a in [b, ",
            "task:group == service:web",
            "hostname == x",
            "attribute:a == 'b",
        ] {
            assert!(
                parse(expression).is_err(),
                "{expression:?} should not parse"
            );
        }
    }

    #[test]
    fn deep_nesting_and_long_input_are_refused_without_recursing_that_far() {
        // Deep enough to overflow the stack of a recursive parser.
        let deep = format!(
            "{}attribute:a == b{}",
            "(".repeat(100_000),
            ")".repeat(100_000)
        );
        let error = parse(&deep[..MAX_LENGTH]).unwrap_err();
        assert!(error.0.contains("nest deeper than 32"), "{error}");
        assert!(parse(&deep).unwrap_err().0.contains("at most 2000"));
        let nots = format!("{}attribute:a == b", "not ".repeat(400));
        assert!(parse(&nots).unwrap_err().0.contains("nest deeper"));
        // Just within the bound parses and matches.
        let fine = format!("{}attribute:a == b{}", "(".repeat(32), ")".repeat(32));
        assert!(parse(&fine).unwrap().matches(&instance(&[("a", "b")])));
        // A long flat chain stays within the length bound and matches.
        let chain = vec!["attribute:a == b"; 90].join(" and ");
        assert!(parse(&chain).unwrap().matches(&instance(&[("a", "b")])));
    }

    #[test]
    fn wildcards() {
        assert!(wildcard("a*c*e", "abcde"));
        assert!(!wildcard("a*c*e", "abde"));
        assert!(wildcard("*", ""));
        assert!(!wildcard("ab*ba", "aba"));
    }
}
