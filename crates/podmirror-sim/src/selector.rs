//! Label and field selectors with the syntax, validation messages and matching rules of kube-apiserver.
//!
//! Three entry points matter to callers:
//!
//! * [`LabelSelector::parse`] for the `labelSelector` query parameter (and `kubectl -l`),
//! * [`LabelSelector::from_api`] for `metav1.LabelSelector` objects found inside resources,
//! * [`FieldSelector::parse`] for the `fieldSelector` query parameter, together with
//!   [`field_value`] which knows which field labels each kind can be filtered by.
//!
//! Error texts follow the apiserver's wording so that kubectl prints the same message a real
//! cluster would produce.

use std::fmt;

use serde_json::{Map, Value};

/// Everything that can go wrong while reading or applying a selector.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The label selector string is malformed or names an invalid key or value.
    #[error("{0}")]
    LabelSyntax(String),
    /// A `metav1.LabelSelector` object is malformed or fails validation.
    #[error("{0}")]
    InvalidLabelSelector(String),
    /// The field selector string is malformed (missing operator, bad escaping, ...).
    #[error("{0}")]
    FieldSyntax(String),
    /// The field selector names a field the resource cannot be filtered by.
    #[error("field label not supported: {0}")]
    UnsupportedField(String),
}

/// Builds the error the apiserver answers (HTTP 400) when a field selector uses a field label
/// that the resource kind does not support: `field label not supported: <name>`.
pub fn unsupported(field: &str) -> SelectorError {
    SelectorError::UnsupportedField(field.to_string())
}

// ---------------------------------------------------------------------------------------------
// Validation helpers producing the apimachinery wording.
// ---------------------------------------------------------------------------------------------

const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const QUALIFIED_NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const LABEL_VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const DNS_SUBDOMAIN_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const DNS_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";

/// Formats a "does not match the pattern" explanation the way apimachinery does, including its
/// peculiar double spaces between examples.
fn regex_message(msg: &str, pattern: &str, examples: &[&str]) -> String {
    let mut out = String::from(msg);
    if examples.is_empty() {
        out.push_str(" (regex used for validation is '");
    } else {
        out.push_str(" (e.g. ");
        for (i, example) in examples.iter().enumerate() {
            if i > 0 {
                out.push_str(" or ");
            }
            out.push('\'');
            out.push_str(example);
            out.push_str("', ");
        }
        out.push_str("regex used for validation is '");
    }
    out.push_str(pattern);
    out.push_str("')");
    out
}

fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]` anchored on both sides.
fn looks_like_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_alnum(first)
                && is_alnum(last)
                && b.iter()
                    .all(|&c| is_alnum(c) || c == b'-' || c == b'_' || c == b'.')
        }
        _ => false,
    }
}

/// One DNS-1123 label: lower-case alphanumerics and '-', alphanumeric at both ends.
fn looks_like_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            edge(first) && edge(last) && b.iter().all(|&c| edge(c) || c == b'-')
        }
        _ => false,
    }
}

fn dns_subdomain_problems(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".to_string());
    }
    if !s.split('.').all(looks_like_dns_label) {
        errs.push(regex_message(
            DNS_SUBDOMAIN_MSG,
            DNS_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Problems with a label key (`[prefix/]name`), worded like apimachinery's qualified-name check.
fn label_key_problems(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let pieces: Vec<&str> = key.split('/').collect();
    let name = match pieces.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                for problem in dns_subdomain_problems(prefix) {
                    errs.push(format!("prefix part {problem}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_message(
                    QUALIFIED_NAME_MSG,
                    QUALIFIED_NAME_FMT,
                    &["MyName", "my.name", "123-abc"]
                )
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_string());
    }
    if !looks_like_qualified_name(name) {
        errs.push(format!(
            "name part {}",
            regex_message(
                QUALIFIED_NAME_MSG,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Problems with a label value (may be empty, otherwise like a qualified name, at most 63 bytes).
fn label_value_problems(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push("must be no more than 63 characters".to_string());
    }
    if !value.is_empty() && !looks_like_qualified_name(value) {
        errs.push(regex_message(
            LABEL_VALUE_MSG,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// Quotes a string the way Go's `%q` verb does for the characters that matter here.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Renders a list of strings as Go's `%#v` renders a `[]string`.
fn go_string_slice(values: Option<&[String]>) -> String {
    match values {
        None => "[]string(nil)".to_string(),
        Some(values) => {
            let inner: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
            format!("[]string{{{}}}", inner.join(", "))
        }
    }
}

/// `<path>: Invalid value: <bad>: <detail>` as a field error prints itself.
fn invalid(path: &str, bad: &str, detail: &str) -> String {
    format!("{path}: Invalid value: {bad}: {detail}")
}

/// Joins several messages as an apimachinery aggregate error does: one message stands alone,
/// several are de-duplicated and wrapped in brackets.
fn aggregate(messages: Vec<String>) -> Option<String> {
    let mut unique: Vec<String> = Vec::new();
    for m in messages {
        if !unique.contains(&m) {
            unique.push(m);
        }
    }
    match unique.len() {
        0 => None,
        1 => unique.pop(),
        _ => Some(format!("[{}]", unique.join(", "))),
    }
}

// ---------------------------------------------------------------------------------------------
// Label selectors.
// ---------------------------------------------------------------------------------------------

/// The relation a label requirement expresses between a key and its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `key in (a,b)` / matchExpressions `In`: the label exists and has one of the values.
    In,
    /// `key notin (a,b)` / `NotIn`: the label is absent or has none of the values.
    NotIn,
    /// `key=value`.
    Equals,
    /// `key==value` (same meaning as `=`).
    DoubleEquals,
    /// `key!=value`: the label is absent or differs.
    NotEquals,
    /// `key` / `Exists`: the label is present.
    Exists,
    /// `!key` / `DoesNotExist`: the label is absent.
    DoesNotExist,
    /// `key>N`: the label is an integer greater than N.
    GreaterThan,
    /// `key<N`: the label is an integer less than N.
    LessThan,
}

/// One condition of a label selector; all requirements of a selector must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key the requirement looks at.
    pub key: String,
    /// How the label value is compared.
    pub operator: Operator,
    /// The values compared against (empty for `Exists` / `DoesNotExist`).
    pub values: Vec<String>,
}

impl Requirement {
    /// Checks the requirement against a set of labels (`None` behaves like no labels at all).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let current = labels.and_then(|l| l.get(&self.key)).map(label_text);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                current.is_some_and(|v| has(&v))
            }
            Operator::NotIn | Operator::NotEquals => current.is_none_or(|v| !has(&v)),
            Operator::Exists => current.is_some(),
            Operator::DoesNotExist => current.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(actual) = current.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let [wanted] = self.values.as_slice() else {
                    return false;
                };
                let Ok(wanted) = wanted.parse::<i64>() else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > wanted
                } else {
                    actual < wanted
                }
            }
        }
    }

    /// Validates a requirement the way the apiserver's requirement constructor does. `values`
    /// is `None` when the source had no value list at all (Go's nil slice).
    fn checked(
        key: &str,
        operator: Operator,
        values: Option<Vec<String>>,
    ) -> Result<Requirement, String> {
        let mut errs = Vec::new();
        let problems = label_key_problems(key);
        if !problems.is_empty() {
            errs.push(invalid("key", &go_quote(key), &problems.join("; ")));
        }
        let count = values.as_ref().map_or(0, Vec::len);
        let shown = || go_string_slice(values.as_deref());
        match operator {
            Operator::In | Operator::NotIn if count == 0 => errs.push(invalid(
                "values",
                &shown(),
                "for 'in', 'notin' operators, values set can't be empty",
            )),
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if count != 1 => errs
                .push(invalid(
                    "values",
                    &shown(),
                    "exact-match compatibility requires one single value",
                )),
            Operator::Exists | Operator::DoesNotExist if count != 0 => errs.push(invalid(
                "values",
                &shown(),
                "values set must be empty for exists and does not exist",
            )),
            Operator::GreaterThan | Operator::LessThan => {
                if count != 1 {
                    errs.push(invalid(
                        "values",
                        &shown(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().flatten().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(invalid(
                            &format!("values[{i}]"),
                            &go_quote(v),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
            _ => {}
        }
        for (i, v) in values.iter().flatten().enumerate() {
            let problems = label_value_problems(v);
            if !problems.is_empty() {
                errs.push(invalid(
                    &format!("values[{i}][{key}]"),
                    &go_quote(v),
                    &problems.join("; "),
                ));
            }
        }
        match aggregate(errs) {
            Some(message) => Err(message),
            None => Ok(Requirement {
                key: key.to_string(),
                operator,
                values: values.unwrap_or_default(),
            }),
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let (op, parens) = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => ("=", false),
            Operator::DoubleEquals => ("==", false),
            Operator::NotEquals => ("!=", false),
            Operator::GreaterThan => (">", false),
            Operator::LessThan => ("<", false),
            Operator::In => (" in ", true),
            Operator::NotIn => (" notin ", true),
        };
        f.write_str(op)?;
        if parens {
            f.write_str("(")?;
        }
        let mut values = self.values.clone();
        values.sort();
        f.write_str(&values.join(","))?;
        if parens {
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Reads a label value out of JSON; labels are strings, anything else is compared as its JSON
/// text so that a malformed object never panics.
fn label_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A parsed label selector: a conjunction of [`Requirement`]s, kept sorted by key like the
/// apiserver keeps them. An empty selector matches every object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

impl LabelSelector {
    /// A selector that matches everything.
    pub fn everything() -> LabelSelector {
        LabelSelector::default()
    }

    /// Parses the string form used by `?labelSelector=` and `kubectl -l`, e.g.
    /// `app=web,tier!=db,env in (prod,staging),!canary`. The empty string selects everything.
    pub fn parse(input: &str) -> Result<LabelSelector, SelectorError> {
        let tokens = lex(input);
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = parser.selector().map_err(SelectorError::LabelSyntax)?;
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// Builds a selector from a `metav1.LabelSelector` JSON object
    /// (`{"matchLabels": {...}, "matchExpressions": [{"key", "operator", "values"}]}`).
    ///
    /// `null`, an absent selector and `{}` all select everything. That is what the API
    /// conventions prescribe for most users (Deployments, Services, NetworkPolicies, ...); the
    /// few places where a nil selector means "nothing" must handle that before calling this.
    pub fn from_api(value: &Value) -> Result<LabelSelector, SelectorError> {
        let bad = |m: &str| SelectorError::InvalidLabelSelector(m.to_string());
        let object = match value {
            Value::Null => return Ok(LabelSelector::everything()),
            Value::Object(o) => o,
            _ => return Err(bad("a label selector must be an object")),
        };
        let mut requirements = Vec::new();
        match object.get("matchLabels") {
            None | Some(Value::Null) => {}
            Some(Value::Object(labels)) => {
                let mut keys: Vec<&String> = labels.keys().collect();
                keys.sort();
                for key in keys {
                    let value = match labels.get(key) {
                        Some(Value::String(s)) => s.clone(),
                        _ => return Err(bad("matchLabels values must be strings")),
                    };
                    let r = Requirement::checked(key, Operator::Equals, Some(vec![value]))
                        .map_err(SelectorError::InvalidLabelSelector)?;
                    requirements.push(r);
                }
            }
            Some(_) => return Err(bad("matchLabels must be an object")),
        }
        match object.get("matchExpressions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(exprs)) => {
                for expr in exprs {
                    requirements.push(expression_requirement(expr)?);
                }
            }
            Some(_) => return Err(bad("matchExpressions must be a list")),
        }
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { requirements })
    }

    /// True when the selector has no requirements and therefore matches everything.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// The requirements, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// Checks an object's `metadata.labels` (pass `None` when the object has no labels).
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl fmt::Display for LabelSelector {
    /// The canonical form the apiserver prints (e.g. in `kubectl get rs -o wide`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

fn expression_requirement(expr: &Value) -> Result<Requirement, SelectorError> {
    let bad = |m: String| SelectorError::InvalidLabelSelector(m);
    let key = expr.get("key").and_then(Value::as_str).unwrap_or_default();
    let op_text = expr
        .get("operator")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let operator = match op_text {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(bad(format!(
                "{} is not a valid label selector operator",
                go_quote(other)
            )));
        }
    };
    let values = match expr.get("values") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if items.is_empty() => None,
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    _ => return Err(bad("matchExpressions values must be strings".into())),
                }
            }
            Some(out)
        }
        Some(_) => return Err(bad("matchExpressions values must be a list".into())),
    };
    Requirement::checked(key, operator, values).map_err(bad)
}

// --- lexer ---------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Error,
    End,
    CloseParen,
    Comma,
    Bang,
    DoubleEquals,
    Equals,
    Greater,
    Ident,
    In,
    Less,
    NotEquals,
    NotIn,
    OpenParen,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Tok,
    text: String,
}

fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        ")" => Tok::CloseParen,
        "," => Tok::Comma,
        "!" => Tok::Bang,
        "==" => Tok::DoubleEquals,
        "=" => Tok::Equals,
        ">" => Tok::Greater,
        "in" => Tok::In,
        "<" => Tok::Less,
        "!=" => Tok::NotEquals,
        "notin" => Tok::NotIn,
        "(" => Tok::OpenParen,
        _ => return None,
    })
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_symbol(b: u8) -> bool {
    matches!(b, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

/// Splits the selector into tokens. Runs of operator characters are cut at the longest known
/// operator, everything else up to whitespace or an operator character is one word.
fn lex(input: &str) -> Vec<Token> {
    let bytes = input.as_bytes();
    let mut pos = 0;
    let mut tokens = Vec::new();
    loop {
        while pos < bytes.len() && is_space(bytes[pos]) {
            pos += 1;
        }
        if pos >= bytes.len() {
            tokens.push(Token {
                kind: Tok::End,
                text: String::new(),
            });
            return tokens;
        }
        if is_symbol(bytes[pos]) {
            let start = pos;
            let mut best: Option<(Tok, usize)> = None;
            let mut end = pos;
            while end < bytes.len() && is_symbol(bytes[end]) {
                end += 1;
                match keyword(&input[start..end]) {
                    Some(kind) => best = Some((kind, end)),
                    None if best.is_some() => break,
                    None => {}
                }
            }
            match best {
                Some((kind, stop)) => {
                    tokens.push(Token {
                        kind,
                        text: input[start..stop].to_string(),
                    });
                    pos = stop;
                }
                None => {
                    tokens.push(Token {
                        kind: Tok::Error,
                        text: format!("error expected: keyword found '{}'", &input[start..end]),
                    });
                    pos = end;
                }
            }
        } else {
            let start = pos;
            while pos < bytes.len() && !is_symbol(bytes[pos]) && !is_space(bytes[pos]) {
                pos += 1;
            }
            let word = &input[start..pos];
            let kind = match keyword(word) {
                Some(k) => k,
                None => Tok::Ident,
            };
            tokens.push(Token {
                kind,
                text: word.to_string(),
            });
        }
    }
}

// --- parser --------------------------------------------------------------------------------

/// Whether `in` / `notin` are read as operators (after a key) or as plain words (values, keys).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Operator,
    Value,
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn at(&self, ctx: Ctx) -> (Tok, String) {
        // The token list always ends with `End`, and the parser never moves past it, so the
        // fallback is only a guard.
        let tok = self.tokens.get(self.pos).or(self.tokens.last());
        let (kind, text) = tok.map_or((Tok::End, String::new()), |t| (t.kind, t.text.clone()));
        let kind = match (ctx, kind) {
            (Ctx::Value, Tok::In | Tok::NotIn) => Tok::Ident,
            (_, k) => k,
        };
        (kind, text)
    }

    fn take(&mut self, ctx: Ctx) -> (Tok, String) {
        let out = self.at(ctx);
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        out
    }

    fn selector(&mut self) -> Result<Vec<Requirement>, String> {
        let mut out = Vec::new();
        loop {
            let (kind, text) = self.at(Ctx::Value);
            match kind {
                Tok::Ident | Tok::Bang => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    out.push(r);
                    let (after, after_text) = self.take(Ctx::Value);
                    match after {
                        Tok::End => return Ok(out),
                        Tok::Comma => {
                            let (next, next_text) = self.at(Ctx::Value);
                            if next != Tok::Ident && next != Tok::Bang {
                                return Err(format!(
                                    "found '{next_text}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => {
                            return Err(format!(
                                "found '{after_text}', expected: ',' or 'end of string'"
                            ));
                        }
                    }
                }
                Tok::End => return Ok(out),
                _ => {
                    return Err(format!(
                        "found '{text}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (key, inferred) = self.key_and_unary()?;
        if let Some(op) = inferred {
            return Requirement::checked(&key, op, Some(Vec::new()));
        }
        let operator = self.operator()?;
        let values = match operator {
            Operator::In | Operator::NotIn => self.value_set()?,
            _ => self.single_value()?,
        };
        Requirement::checked(&key, operator, Some(values))
    }

    /// Reads `[!]key` and decides whether the requirement is unary (`key` alone means Exists,
    /// `!key` means DoesNotExist).
    fn key_and_unary(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut negated = false;
        let (mut kind, mut text) = self.take(Ctx::Value);
        if kind == Tok::Bang {
            negated = true;
            (kind, text) = self.take(Ctx::Value);
        }
        if kind != Tok::Ident {
            return Err(format!("found '{text}', expected: identifier"));
        }
        let problems = label_key_problems(&text);
        if !problems.is_empty() {
            return Err(invalid("<nil>", &go_quote(&text), &problems.join("; ")));
        }
        if negated {
            return Ok((text, Some(Operator::DoesNotExist)));
        }
        let (next, _) = self.at(Ctx::Value);
        if next == Tok::End || next == Tok::Comma {
            return Ok((text, Some(Operator::Exists)));
        }
        Ok((text, None))
    }

    fn operator(&mut self) -> Result<Operator, String> {
        let (kind, text) = self.take(Ctx::Operator);
        Ok(match kind {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::Greater => Operator::GreaterThan,
            Tok::Less => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            // The missing quote before notin is what the apiserver prints.
            _ => {
                return Err(format!(
                    "found '{text}', expected: '=', '!=', '==', 'in', notin'"
                ));
            }
        })
    }

    /// Reads `( v1, v2, ... )`; the result is sorted and de-duplicated like a Go string set.
    fn value_set(&mut self) -> Result<Vec<String>, String> {
        let (kind, text) = self.take(Ctx::Value);
        if kind != Tok::OpenParen {
            return Err(format!("found '{text}' expected: '('"));
        }
        let (kind, text) = self.at(Ctx::Value);
        let mut set = match kind {
            Tok::Ident | Tok::Comma => {
                let set = self.value_list()?;
                let (closing, _) = self.take(Ctx::Value);
                if closing != Tok::CloseParen {
                    return Err(format!("found '{text}', expected: ')'"));
                }
                set
            }
            Tok::CloseParen => {
                self.take(Ctx::Value);
                vec![String::new()]
            }
            _ => return Err(format!("found '{text}', expected: ',', ')' or identifier")),
        };
        set.sort();
        set.dedup();
        Ok(set)
    }

    /// Reads a comma separated list in which empty entries stand for the empty value. Stops in
    /// front of the closing parenthesis.
    fn value_list(&mut self) -> Result<Vec<String>, String> {
        let mut set: Vec<String> = Vec::new();
        loop {
            let (kind, text) = self.take(Ctx::Value);
            match kind {
                Tok::Ident => {
                    set.push(text);
                    let (next, next_text) = self.at(Ctx::Value);
                    match next {
                        Tok::Comma => continue,
                        Tok::CloseParen => return Ok(set),
                        _ => return Err(format!("found '{next_text}', expected: ',' or ')'")),
                    }
                }
                Tok::Comma => {
                    if set.is_empty() {
                        set.push(String::new());
                    }
                    let (next, _) = self.at(Ctx::Value);
                    if next == Tok::CloseParen {
                        set.push(String::new());
                        return Ok(set);
                    }
                    if next == Tok::Comma {
                        self.take(Ctx::Value);
                        set.push(String::new());
                    }
                }
                _ => return Err(format!("found '{text}', expected: ',', or identifier")),
            }
        }
    }

    /// Reads the value after `=`, `==`, `!=`, `>` or `<`; a missing value means "".
    fn single_value(&mut self) -> Result<Vec<String>, String> {
        let (next, _) = self.at(Ctx::Value);
        if next == Tok::End || next == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        let (kind, text) = self.take(Ctx::Value);
        if kind == Tok::Ident {
            Ok(vec![text])
        } else {
            Err(format!("found '{text}', expected: identifier"))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Field selectors.
// ---------------------------------------------------------------------------------------------

/// One `field=value` or `field!=value` term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field label, e.g. `status.phase`; taken verbatim (no trimming, like the apiserver).
    pub field: String,
    /// True for `!=`, false for `=` and `==`.
    pub negated: bool,
    /// The unescaped value.
    pub value: String,
}

/// A parsed field selector: every term must hold. An empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// Parses the `?fieldSelector=` syntax: comma separated `field=value`, `field==value` or
    /// `field!=value` terms, where `\,`, `\=` and `\\` escape characters inside values. Terms
    /// are kept in the sorted order the apiserver processes them in.
    pub fn parse(input: &str) -> Result<FieldSelector, SelectorError> {
        let mut parts = split_terms(input);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, raw)) = split_term(part) else {
                return Err(SelectorError::FieldSyntax(format!(
                    "invalid selector: '{input}'; can't understand '{part}'"
                )));
            };
            let value = unescape(raw).map_err(SelectorError::FieldSyntax)?;
            terms.push(FieldTerm {
                field: field.to_string(),
                negated: op == "!=",
                value,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// True when the selector has no terms.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The parsed terms in processing order.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// The field labels used, in processing order, so the caller can reject unsupported ones
    /// (see [`unsupported`]).
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(|t| t.field.as_str())
    }

    /// Checks every field label against what `kind` supports (see [`field_value`]) and returns
    /// the apiserver's `field label not supported: <name>` error for the first one that isn't.
    pub fn validate_for(&self, kind: &str) -> Result<(), SelectorError> {
        match self
            .fields()
            .find(|f| field_value(kind, &Value::Null, f).is_none())
        {
            Some(field) => Err(unsupported(field)),
            None => Ok(()),
        }
    }

    /// Evaluates the selector; `get` returns a field's value and `None` counts as "".
    pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
        self.terms.iter().all(|t| {
            let actual = get(&t.field).unwrap_or_default();
            (actual == t.value) != t.negated
        })
    }

    /// Evaluates the selector against an object of `kind` using [`field_value`]; unsupported
    /// fields read as "" (validate with [`FieldSelector::validate_for`] first).
    pub fn matches_object(&self, kind: &str, obj: &Value) -> bool {
        self.matches(|f| field_value(kind, obj, f).flatten())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, t) in self.terms.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = if t.negated { "!=" } else { "=" };
            write!(f, "{}{}{}", t.field, op, escape(&t.value))?;
        }
        Ok(())
    }
}

/// Escapes a literal for use as a field selector value (`\` → `\\`, `,` → `\,`, `=` → `\=`).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '=') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Cuts the selector at commas that are not escaped; escapes stay in the pieces.
fn split_terms(input: &str) -> Vec<&str> {
    if input.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == ',' {
            out.push(&input[start..i]);
            start = i + 1;
        }
    }
    out.push(&input[start..]);
    out
}

/// Finds the first operator in a term; `!=` and `==` win over `=` at the same position.
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for op in ["!=", "==", "="] {
            if let Some(value) = rest.strip_prefix(op) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

fn unescape(raw: &str) -> Result<String, String> {
    if !raw.contains(['\\', ',', '=']) {
        return Ok(raw.to_string());
    }
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            // The apiserver prints the character as its code point number.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Field labels per kind.
// ---------------------------------------------------------------------------------------------

fn text_at(obj: &Value, path: &[&str]) -> String {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn bool_at(obj: &Value, path: &[&str]) -> String {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return "false".into(),
        }
    }
    cur.as_bool().unwrap_or(false).to_string()
}

fn int_at(obj: &Value, path: &[&str]) -> String {
    let mut cur = obj;
    for p in path {
        match cur.get(p) {
            Some(next) => cur = next,
            None => return "0".into(),
        }
    }
    cur.as_i64().unwrap_or(0).to_string()
}

/// Splits an optionally group-qualified kind (`events.k8s.io/Event`, `Event.events.k8s.io`)
/// into `(group, kind)`.
fn split_kind(kind: &str) -> (&str, &str) {
    if let Some((group, k)) = kind.rsplit_once('/') {
        return (group, k);
    }
    if let Some((k, group)) = kind.split_once('.') {
        return (group, k);
    }
    ("", kind)
}

/// True when an Event should be read in the `events.k8s.io` shape: either the kind names that
/// group, or the object says so through its apiVersion.
fn is_new_event(group: &str, obj: &Value) -> bool {
    group == "events.k8s.io"
        || obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|v| v.starts_with("events.k8s.io/"))
}

/// The value of field label `field` for an object of `kind`, as the apiserver computes it for
/// field selectors.
///
/// * `None`: the label is not supported for this kind; answer 400 with [`unsupported`].
/// * `Some(Some(v))`: the value to compare. Absent fields give the apiserver's zero value
///   (`""` for strings, `"0"` for counters, `"false"` for booleans), so a supported label never
///   yields `Some(None)`.
///
/// `kind` is the object kind (`Pod`, `Event`, ...). Events in the `events.k8s.io` group use
/// their own labels (`regarding.*`, `reportingController`); they are recognised from the
/// object's apiVersion, or from a qualified kind such as `events.k8s.io/Event` when there is no
/// object yet (pass `&Value::Null` to only ask whether a label is supported).
pub fn field_value(kind: &str, obj: &Value, field: &str) -> Option<Option<String>> {
    let (group, kind) = split_kind(kind);
    let name = || text_at(obj, &["metadata", "name"]);
    let namespace = || text_at(obj, &["metadata", "namespace"]);
    let value = match (kind, field) {
        // Cluster-scoped kinds with their own conversion only accept metadata.name.
        ("Node" | "Namespace", "metadata.name") => name(),
        ("Node" | "Namespace", "metadata.namespace") => return None,
        (_, "metadata.name") => name(),
        (_, "metadata.namespace") => namespace(),

        ("Pod", "spec.nodeName" | "spec.host") => text_at(obj, &["spec", "nodeName"]),
        ("Pod", "spec.restartPolicy") => text_at(obj, &["spec", "restartPolicy"]),
        ("Pod", "spec.schedulerName") => text_at(obj, &["spec", "schedulerName"]),
        ("Pod", "spec.serviceAccountName") => {
            let sa = text_at(obj, &["spec", "serviceAccountName"]);
            if sa.is_empty() {
                text_at(obj, &["spec", "serviceAccount"])
            } else {
                sa
            }
        }
        ("Pod", "spec.hostNetwork") => bool_at(obj, &["spec", "hostNetwork"]),
        ("Pod", "status.phase") => text_at(obj, &["status", "phase"]),
        ("Pod", "status.podIP") => {
            let first = obj
                .pointer("/status/podIPs/0/ip")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if first.is_empty() {
                text_at(obj, &["status", "podIP"])
            } else {
                first.to_string()
            }
        }
        ("Pod", "status.nominatedNodeName") => text_at(obj, &["status", "nominatedNodeName"]),

        ("Event", f) => return event_field(is_new_event(group, obj), obj, f).map(Some),

        ("Node", "spec.unschedulable") => bool_at(obj, &["spec", "unschedulable"]),
        ("Secret", "type") => text_at(obj, &["type"]),
        ("Namespace", "status.phase") => text_at(obj, &["status", "phase"]),
        ("ReplicaSet" | "ReplicationController", "status.replicas") => {
            int_at(obj, &["status", "replicas"])
        }
        ("Job", "status.successful") => int_at(obj, &["status", "succeeded"]),
        _ => return None,
    };
    Some(Some(value))
}

fn event_field(new_shape: bool, obj: &Value, field: &str) -> Option<String> {
    const REF_FIELDS: [&str; 7] = [
        "kind",
        "namespace",
        "name",
        "uid",
        "apiVersion",
        "resourceVersion",
        "fieldPath",
    ];
    let (ref_prefix, ref_key, controller_label, controller_key, source_key) = if new_shape {
        (
            "regarding.",
            "regarding",
            "reportingController",
            "reportingController",
            "deprecatedSource",
        )
    } else {
        (
            "involvedObject.",
            "involvedObject",
            "reportingComponent",
            "reportingComponent",
            "source",
        )
    };
    if let Some(sub) = field.strip_prefix(ref_prefix) {
        return REF_FIELDS
            .contains(&sub)
            .then(|| text_at(obj, &[ref_key, sub]));
    }
    if field == controller_label {
        return Some(text_at(obj, &[controller_key]));
    }
    match field {
        "reason" => Some(text_at(obj, &["reason"])),
        "type" => Some(text_at(obj, &["type"])),
        "source" => {
            let component = text_at(obj, &[source_key, "component"]);
            if component.is_empty() {
                Some(text_at(obj, &[controller_key]))
            } else {
                Some(component)
            }
        }
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => panic!("labels must be an object"),
        }
    }

    fn err_text(r: Result<LabelSelector, SelectorError>) -> String {
        r.expect_err("expected a parse error").to_string()
    }

    #[test]
    fn empty_selector_matches_everything() {
        let s = LabelSelector::parse("").unwrap();
        assert!(s.is_empty());
        assert!(s.matches(None));
        assert!(s.matches(Some(&labels(json!({"a": "b"})))));
        let s = LabelSelector::parse("   ").unwrap();
        assert!(s.is_empty());
    }

    #[test]
    fn equality_operators() {
        let l = labels(json!({"app": "web", "tier": "front"}));
        assert!(LabelSelector::parse("app=web").unwrap().matches(Some(&l)));
        assert!(LabelSelector::parse("app==web").unwrap().matches(Some(&l)));
        assert!(!LabelSelector::parse("app!=web").unwrap().matches(Some(&l)));
        assert!(LabelSelector::parse("app!=db").unwrap().matches(Some(&l)));
        // != matches objects without the label
        assert!(
            LabelSelector::parse("missing!=x")
                .unwrap()
                .matches(Some(&l))
        );
        assert!(
            LabelSelector::parse("app=web,tier=front")
                .unwrap()
                .matches(Some(&l))
        );
        assert!(
            !LabelSelector::parse("app=web,tier=back")
                .unwrap()
                .matches(Some(&l))
        );
    }

    #[test]
    fn set_operators_and_existence() {
        let l = labels(json!({"env": "prod", "canary": ""}));
        assert!(
            LabelSelector::parse("env in (prod, staging)")
                .unwrap()
                .matches(Some(&l))
        );
        assert!(
            !LabelSelector::parse("env notin (prod)")
                .unwrap()
                .matches(Some(&l))
        );
        assert!(
            LabelSelector::parse("other notin (prod)")
                .unwrap()
                .matches(Some(&l))
        );
        assert!(LabelSelector::parse("canary").unwrap().matches(Some(&l)));
        assert!(!LabelSelector::parse("!canary").unwrap().matches(Some(&l)));
        assert!(LabelSelector::parse("!missing").unwrap().matches(Some(&l)));
        assert!(!LabelSelector::parse("missing").unwrap().matches(None));
        // `in ()` means "the label is present and empty"
        assert!(
            LabelSelector::parse("canary in ()")
                .unwrap()
                .matches(Some(&l))
        );
    }

    #[test]
    fn whitespace_and_keywords_as_words() {
        let l = labels(json!({"in": "notin", "x": "1"}));
        let s = LabelSelector::parse("  in = notin ,\tx in ( 1 , 2 )  ").unwrap();
        assert!(s.matches(Some(&l)));
        assert_eq!(s.to_string(), "in=notin,x in (1,2)");
    }

    #[test]
    fn greater_and_less_than() {
        let l = labels(json!({"n": "5", "s": "x"}));
        assert!(LabelSelector::parse("n>3").unwrap().matches(Some(&l)));
        assert!(!LabelSelector::parse("n<3").unwrap().matches(Some(&l)));
        assert!(!LabelSelector::parse("s>3").unwrap().matches(Some(&l)));
        let e = err_text(LabelSelector::parse("n>x"));
        assert_eq!(
            e,
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
    }

    #[test]
    fn canonical_string_is_sorted() {
        let s = LabelSelector::parse("z=1,a in (c,b),!m,k").unwrap();
        assert_eq!(s.to_string(), "a in (b,c),k,!m,z=1");
    }

    #[test]
    fn syntax_errors_use_apiserver_wording() {
        assert_eq!(
            err_text(LabelSelector::parse("a=b,")),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            err_text(LabelSelector::parse("=b")),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err_text(LabelSelector::parse("a b")),
            "unable to parse requirement: found 'b', expected: '=', '!=', '==', 'in', notin'"
        );
        assert_eq!(
            err_text(LabelSelector::parse("a in x")),
            "unable to parse requirement: found 'x' expected: '('"
        );
        assert_eq!(
            err_text(LabelSelector::parse("a in (x y)")),
            "unable to parse requirement: found 'y', expected: ',' or ')'"
        );
        assert_eq!(
            err_text(LabelSelector::parse("a=b c")),
            "found 'c', expected: ',' or 'end of string'"
        );
        assert_eq!(
            err_text(LabelSelector::parse("!!a")),
            "unable to parse requirement: found '!', expected: identifier"
        );
        assert_eq!(
            err_text(LabelSelector::parse("a=(")),
            "unable to parse requirement: found '(', expected: identifier"
        );
    }

    #[test]
    fn invalid_key_message() {
        let e = err_text(LabelSelector::parse("-bad=x"));
        assert_eq!(
            e,
            "unable to parse requirement: <nil>: Invalid value: \"-bad\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        let long = "k".repeat(64);
        let e = err_text(LabelSelector::parse(&long));
        assert!(
            e.contains("name part must be no more than 63 characters"),
            "{e}"
        );
        let e = err_text(LabelSelector::parse("Example.COM/x=y"));
        assert!(
            e.contains("prefix part a lowercase RFC 1123 subdomain"),
            "{e}"
        );
        let e = err_text(LabelSelector::parse("a/b/c"));
        assert!(e.contains("a qualified name must consist of"), "{e}");
        // prefixed keys are fine
        assert!(LabelSelector::parse("app.kubernetes.io/name=web").is_ok());
    }

    #[test]
    fn invalid_value_message() {
        let e = err_text(LabelSelector::parse("app=-web"));
        assert_eq!(
            e,
            "unable to parse requirement: values[0][app]: Invalid value: \"-web\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        let e = err_text(LabelSelector::parse(&format!("a={}", "v".repeat(64))));
        assert!(e.contains("must be no more than 63 characters"), "{e}");
        // empty values are valid
        assert!(LabelSelector::parse("a=").is_ok());
        assert!(LabelSelector::parse("a=,b").is_ok());
    }

    #[test]
    fn from_api_match_labels_and_expressions() {
        let s = LabelSelector::from_api(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "edge"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert_eq!(s.to_string(), "app=web,!legacy,tier in (edge,front)");
        assert!(s.matches(Some(&labels(json!({"app": "web", "tier": "edge"})))));
        assert!(!s.matches(Some(&labels(
            json!({"app": "web", "tier": "edge", "legacy": "1"})
        ))));
        assert!(!s.matches(Some(&labels(json!({"app": "web"})))));
    }

    #[test]
    fn from_api_empty_or_absent_selects_everything() {
        for v in [
            json!(null),
            json!({}),
            json!({"matchLabels": {}, "matchExpressions": []}),
        ] {
            let s = LabelSelector::from_api(&v).unwrap();
            assert!(s.is_empty());
            assert!(s.matches(None));
        }
    }

    #[test]
    fn from_api_errors() {
        let e = LabelSelector::from_api(&json!({
            "matchExpressions": [{"key": "a", "operator": "Equals", "values": ["x"]}]
        }))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "\"Equals\" is not a valid label selector operator"
        );
        let e = LabelSelector::from_api(&json!({
            "matchExpressions": [{"key": "a", "operator": "In"}]
        }))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty"
        );
        let e = LabelSelector::from_api(&json!({
            "matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]
        }))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"
        );
        let e = LabelSelector::from_api(&json!({"matchLabels": {"bad key": "-x"}})).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with("[key: Invalid value: \"bad key\": name part"),
            "{text}"
        );
        assert!(
            text.contains(", values[0][bad key]: Invalid value: \"-x\""),
            "{text}"
        );
        assert!(text.ends_with(']'), "{text}");
    }

    #[test]
    fn field_selector_parse_and_match() {
        let s = FieldSelector::parse("status.phase=Running,spec.nodeName!=node-1").unwrap();
        let fields: Vec<&str> = s.fields().collect();
        // processing order is the sorted order of the raw terms
        assert_eq!(fields, vec!["spec.nodeName", "status.phase"]);
        let get = |f: &str| match f {
            "status.phase" => Some("Running".to_string()),
            "spec.nodeName" => Some("node-2".to_string()),
            _ => None,
        };
        assert!(s.matches(get));
        let s = FieldSelector::parse("status.phase==Pending").unwrap();
        assert!(!s.matches(get));
        // a missing field reads as ""
        let s = FieldSelector::parse("spec.other=").unwrap();
        assert!(s.matches(get));
        assert!(FieldSelector::parse("").unwrap().is_empty());
        assert!(FieldSelector::parse(",a=b,").unwrap().terms().len() == 1);
    }

    #[test]
    fn field_selector_escapes() {
        let s = FieldSelector::parse(r"metadata.name=a\,b\=c\\d").unwrap();
        assert_eq!(s.terms()[0].value, r"a,b=c\d");
        assert_eq!(s.to_string(), r"metadata.name=a\,b\=c\\d");
        assert!(s.matches(|_| Some(r"a,b=c\d".to_string())));
    }

    #[test]
    fn field_selector_errors() {
        let e = FieldSelector::parse("foo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid selector: 'foo'; can't understand 'foo'"
        );
        let e = FieldSelector::parse("a=b=c").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid field selector: unescaped character in value: 61"
        );
        let e = FieldSelector::parse(r"a=b\x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid field selector: invalid escape sequence: \\x"
        );
        let e = FieldSelector::parse(r"a=b\").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid field selector: invalid escape sequence: \\"
        );
        assert_eq!(
            unsupported("spec.foo").to_string(),
            "field label not supported: spec.foo"
        );
    }

    #[test]
    fn pod_field_values() {
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "prod"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                     "serviceAccountName": "sa", "hostNetwork": true},
            "status": {"phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}]}
        });
        let f = |name: &str| field_value("Pod", &pod, name);
        assert_eq!(f("metadata.name"), Some(Some("web-1".into())));
        assert_eq!(f("metadata.namespace"), Some(Some("prod".into())));
        assert_eq!(f("spec.nodeName"), Some(Some("n1".into())));
        assert_eq!(f("spec.hostNetwork"), Some(Some("true".into())));
        assert_eq!(f("status.podIP"), Some(Some("10.0.0.5".into())));
        assert_eq!(f("status.nominatedNodeName"), Some(Some(String::new())));
        assert_eq!(f("spec.containers"), None);
        let bare = json!({"metadata": {"name": "x"}});
        assert_eq!(
            field_value("Pod", &bare, "spec.hostNetwork"),
            Some(Some("false".into()))
        );
        let s = FieldSelector::parse("spec.nodeName=n1,status.phase!=Failed").unwrap();
        assert!(s.matches_object("Pod", &pod));
        assert!(s.validate_for("Pod").is_ok());
        let s = FieldSelector::parse("spec.replicas=1").unwrap();
        assert_eq!(
            s.validate_for("Pod").unwrap_err().to_string(),
            "field label not supported: spec.replicas"
        );
    }

    #[test]
    fn event_field_values_both_groups() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "e1", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "web-1", "uid": "u1"},
            "reason": "Started", "type": "Normal", "reportingComponent": "kubelet",
            "source": {"component": ""}
        });
        assert_eq!(
            field_value("Event", &core, "involvedObject.name"),
            Some(Some("web-1".into()))
        );
        assert_eq!(
            field_value("Event", &core, "source"),
            Some(Some("kubelet".into()))
        );
        assert_eq!(field_value("Event", &core, "regarding.name"), None);
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e2", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "web-2"},
            "reason": "Pulled", "type": "Normal", "reportingController": "kubelet"
        });
        assert_eq!(
            field_value("Event", &new, "regarding.kind"),
            Some(Some("Pod".into()))
        );
        assert_eq!(
            field_value("Event", &new, "reportingController"),
            Some(Some("kubelet".into()))
        );
        assert_eq!(field_value("Event", &new, "involvedObject.kind"), None);
        assert!(field_value("events.k8s.io/Event", &Value::Null, "regarding.uid").is_some());
        assert!(field_value("Event", &Value::Null, "involvedObject.uid").is_some());
    }

    #[test]
    fn other_kind_field_labels() {
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        assert_eq!(
            field_value("Node", &node, "spec.unschedulable"),
            Some(Some("true".into()))
        );
        assert_eq!(field_value("Node", &node, "metadata.namespace"), None);
        assert_eq!(
            field_value(
                "Namespace",
                &json!({"status": {"phase": "Active"}}),
                "status.phase"
            ),
            Some(Some("Active".into()))
        );
        assert_eq!(
            field_value("Secret", &json!({"type": "Opaque"}), "type"),
            Some(Some("Opaque".into()))
        );
        assert_eq!(
            field_value("ReplicaSet", &json!({}), "status.replicas"),
            Some(Some("0".into()))
        );
        assert_eq!(
            field_value(
                "ConfigMap",
                &json!({"metadata": {"namespace": "a"}}),
                "metadata.namespace"
            ),
            Some(Some("a".into()))
        );
        assert_eq!(field_value("ConfigMap", &json!({}), "data"), None);
    }
}
