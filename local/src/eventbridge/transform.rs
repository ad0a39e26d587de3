//! Target input: what a rule target hands its target — the matched event, a constant
//! (`Input`), part of the event (`InputPath`) or a template filled from the event
//! (`InputTransformer`) — with EventBridge's semantics. Pure: no I/O, no clock.
//!
//! Sources, in order of authority:
//! - the user guide's input transformation page,
//!   <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html>;
//! - the API reference's `Target` and `InputTransformer` shapes (limits, key pattern),
//!   <https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_InputTransformer.html>;
//! - where both are silent, outputs that LocalStack recorded against AWS in its validated
//!   tests (`tests/aws/services/events/test_events_inputs.snapshot.json`): those are marked
//!   "recorded on AWS" below.
//!
//! The template rules, as implemented:
//! - A template whose trimmed text starts with `{` and ends with `}` is a JSON template
//!   (the API reference: "If InputTemplate is a JSON object (surrounded by curly
//!   braces)..."); its result must be JSON, else the delivery fails. The JSON passed on is
//!   minified ("Common issues": "The JSON that is passed to the target is minified").
//!   Any other template is text, delivered as written: `"instance <instance> is in <state>"`
//!   keeps its quotes, `<instance> is in state <status>` has none.
//! - A placeholder is `<name>`, name made of letters, digits, `_`, `-` and `.`; it must be
//!   an `InputPathsMap` key or a predefined variable, else the target is rejected
//!   (recorded on AWS: "InputTemplate for target ... contains invalid placeholder ...").
//!   Other `<` text (`a < b`) is literal.
//! - In a JSON template, a placeholder outside quotes is replaced by the value as JSON
//!   (`"RUNNING"`, `42`, `{"a":1}`): the doc's "Simple JSON" example. Inside quotes, a
//!   string is inserted as its text, numbers/booleans/null as their JSON text, and objects
//!   and arrays as their JSON unescaped, which breaks the JSON when they contain quotes
//!   (recorded on AWS: `{"payload": "<payload>"}` with an object is not delivered).
//! - In a text template, objects and arrays are inserted as their JSON without quote
//!   marks (recorded on AWS: `{acc_id:0a787ecb-4015,sf_id:baz}`, `[ACTIVE,INACTIVE]`).
//! - Inside quotes, in either kind of template, inserted text is JSON-escaped (`"`, `\`,
//!   control characters), so a value cannot end the string it is in. The guide's
//!   "Common issues" says both that the JSON passed on is "escaped" and that "EventBridge
//!   doesn't escape values extracted by Input Path"; we escape, which is what any valid
//!   output requires.
//! - A path that matches nothing gives an empty value: `""` unquoted in a JSON template,
//!   nothing in text (the guide: such a variable "isn't created and won't appear in the
//!   output"; recorded on AWS: `{"command": <command>}` gives `{"command": ""}`).

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The predefined variables (the guide's "Predefined variables"): always defined, and
/// no `InputPathsMap` key can take their names (keys cannot contain `.`).
pub const PREDEFINED: [&str; 5] = [
    "aws.events.rule-arn",
    "aws.events.rule-name",
    "aws.events.event.ingestion-time",
    "aws.events.event",
    "aws.events.event.json",
];

/// `Input` and `InputTemplate`: "Maximum length of 8192" (API reference).
pub const MAX_TEMPLATE_CHARS: usize = 8192;
/// `InputPath` and each `InputPathsMap` value (`TargetInputPath`: max 256).
pub const MAX_PATH_CHARS: usize = 256;
/// `InputPathsMap` keys (`InputTransformerPathKey`: 1 to 256).
pub const MAX_KEY_CHARS: usize = 256;
/// `InputPathsMap` entries ("Maximum number of 100 items").
pub const MAX_PATHS: usize = 100;

/// A target's input setting, validated as PutTargets validates it.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetInput {
    /// None of the three: the whole event.
    Whole,
    /// `Input`: constant JSON; nothing from the event.
    Constant(Value),
    /// `InputPath`: the part of the event the JSONPath selects.
    Path(String),
    /// `InputTransformer`: `InputPathsMap` and `InputTemplate`.
    Transformer {
        paths_map: BTreeMap<String, String>,
        template: String,
    },
}

/// Why a target's input setting is rejected (at rule creation) or why one event could not
/// be transformed (at delivery: on AWS that delivery fails and goes to the dead-letter
/// queue).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// AWS's wording: "Only one of Input, InputPath, or InputTransformer must be provided".
    #[error("only one of Input, InputPath, or InputTransformer may be provided (got {0})")]
    MoreThanOne(String),
    #[error("{field} must be {expected}")]
    WrongType {
        field: String,
        expected: &'static str,
    },
    #[error("Input is not valid JSON text: {0}")]
    InputNotJson(String),
    #[error("{field} has {len} characters; at most {max} are allowed")]
    TooLong {
        field: String,
        len: usize,
        max: usize,
    },
    #[error("InputTemplate must not be empty")]
    EmptyTemplate,
    #[error("InputPathsMap has {0} entries; at most 100 are allowed")]
    TooManyPaths(usize),
    #[error("InputPathsMap key {0:?} must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -")]
    InvalidKey(String),
    #[error("{field} {path:?} is not a JSONPath EventBridge accepts: {reason}")]
    InvalidPath {
        field: String,
        path: String,
        reason: String,
    },
    /// AWS's wording: "InputTemplate for target ... contains invalid placeholder ...".
    #[error("InputTemplate contains invalid placeholder {0}")]
    UndefinedPlaceholder(String),
    /// The API reference: "The placeholder cannot be used as an object key."
    #[error("InputTemplate uses placeholder <{0}> as an object key")]
    PlaceholderAsKey(String),
    /// Delivery: the `InputPath` selects nothing in this event.
    #[error("InputPath {0} matches nothing in the event")]
    NoMatch(String),
    /// Delivery: a JSON template filled for this event is not JSON.
    #[error("the transformed input is not valid JSON ({reason}): {output}")]
    InvalidJson { output: String, reason: String },
}

impl TargetInput {
    /// Reads and validates a target's `Input`, `InputPath` and `InputTransformer`
    /// (`InputPathsMap`, `InputTemplate`), as in a CloudFormation `AWS::Events::Rule`
    /// target or a PutTargets entry. A key set to `null` counts as absent.
    pub fn from_target(target: &Value) -> Result<TargetInput, TransformError> {
        let get = |key: &str| target.get(key).filter(|v| !v.is_null());
        let given: Vec<&str> = ["Input", "InputPath", "InputTransformer"]
            .into_iter()
            .filter(|k| get(k).is_some())
            .collect();
        if given.len() > 1 {
            return Err(TransformError::MoreThanOne(given.join(", ")));
        }
        if let Some(input) = get("Input") {
            let text = string_field(input, "Input")?;
            check_len("Input", text, MAX_TEMPLATE_CHARS)?;
            let value = serde_json::from_str(text)
                .map_err(|e| TransformError::InputNotJson(e.to_string()))?;
            return Ok(TargetInput::Constant(value));
        }
        if let Some(path) = get("InputPath") {
            let path = string_field(path, "InputPath")?;
            check_path("InputPath", path, true)?;
            return Ok(TargetInput::Path(path.to_owned()));
        }
        let Some(transformer) = get("InputTransformer") else {
            return Ok(TargetInput::Whole);
        };
        let Value::Object(t) = transformer else {
            return Err(wrong_type("InputTransformer", "an object"));
        };
        let template = match t.get("InputTemplate") {
            None | Some(Value::Null) => return Err(TransformError::EmptyTemplate),
            Some(v) => string_field(v, "InputTransformer.InputTemplate")?,
        };
        if template.is_empty() {
            return Err(TransformError::EmptyTemplate);
        }
        check_len("InputTemplate", template, MAX_TEMPLATE_CHARS)?;
        let paths_map = paths_map(t.get("InputPathsMap"))?;
        check_template(template, &paths_map)?;
        Ok(TargetInput::Transformer {
            paths_map,
            template: template.to_owned(),
        })
    }

    /// The target's input field as ListTargetsByRule returns it, if any.
    pub fn target_field(&self) -> Option<(&'static str, Value)> {
        match self {
            TargetInput::Whole => None,
            TargetInput::Constant(v) => Some(("Input", Value::String(v.to_string()))),
            TargetInput::Path(p) => Some(("InputPath", Value::String(p.clone()))),
            TargetInput::Transformer {
                paths_map,
                template,
            } => Some((
                "InputTransformer",
                serde_json::json!({"InputPathsMap": paths_map, "InputTemplate": template}),
            )),
        }
    }

    /// The text delivered to the target for `event`, matched by the rule `rule_arn`;
    /// `ingestion_time` is when the bus accepted the event (ISO 8601), for
    /// `<aws.events.event.ingestion-time>`.
    pub fn apply(
        &self,
        event: &Value,
        rule_arn: &str,
        ingestion_time: &str,
    ) -> Result<String, TransformError> {
        match self {
            TargetInput::Whole => Ok(event.to_string()),
            TargetInput::Constant(value) => Ok(value.to_string()),
            TargetInput::Path(path) => {
                // The docs do not say what a path that matches nothing delivers (they only
                // say so of InputPathsMap variables). We fail the delivery rather than
                // invent a payload, so that such a rule is noticed.
                let steps = parse_path(path, true)
                    .map_err(|reason| invalid_path("InputPath", path, reason))?;
                select(event, &steps)
                    .map(|v| v.to_string())
                    .ok_or_else(|| TransformError::NoMatch(path.clone()))
            }
            TargetInput::Transformer {
                paths_map,
                template,
            } => {
                let context = Context {
                    event,
                    paths_map,
                    rule_arn,
                    ingestion_time,
                };
                fill(template, &context)
            }
        }
    }
}

fn wrong_type(field: &str, expected: &'static str) -> TransformError {
    TransformError::WrongType {
        field: field.to_owned(),
        expected,
    }
}

fn invalid_path(field: &str, path: &str, reason: String) -> TransformError {
    TransformError::InvalidPath {
        field: field.to_owned(),
        path: path.to_owned(),
        reason,
    }
}

fn string_field<'a>(v: &'a Value, field: &str) -> Result<&'a str, TransformError> {
    v.as_str().ok_or_else(|| wrong_type(field, "a string"))
}

/// AWS's length constraints count characters, not bytes.
fn check_len(field: &str, text: &str, max: usize) -> Result<(), TransformError> {
    let len = text.chars().count();
    if len > max {
        return Err(TransformError::TooLong {
            field: field.to_owned(),
            len,
            max,
        });
    }
    Ok(())
}

fn check_path(field: &str, path: &str, bracket_keys: bool) -> Result<(), TransformError> {
    check_len(field, path, MAX_PATH_CHARS)?;
    parse_path(path, bracket_keys).map_err(|reason| invalid_path(field, path, reason))?;
    Ok(())
}

fn paths_map(v: Option<&Value>) -> Result<BTreeMap<String, String>, TransformError> {
    let entries = match v {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(wrong_type("InputPathsMap", "an object of strings")),
    };
    if entries.len() > MAX_PATHS {
        return Err(TransformError::TooManyPaths(entries.len()));
    }
    let mut map = BTreeMap::new();
    for (key, path) in entries {
        // `InputTransformerPathKey`: `[A-Za-z0-9\_\-]+`, 1 to 256. This also keeps keys from
        // starting with "aws." (the API reference's rule) or naming a predefined variable.
        let key_ok = !key.is_empty()
            && key.len() <= MAX_KEY_CHARS
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !key_ok {
            return Err(TransformError::InvalidKey(key.clone()));
        }
        let field = format!("InputPathsMap.{key}");
        let path = string_field(path, &field)?;
        // "You must use JSON dot notation, not bracket notation" (API reference), though
        // array indices are allowed (the guide's `$.resources[0]`).
        check_path(&field, path, false)?;
        map.insert(key.clone(), path.to_owned());
    }
    Ok(map)
}

/// Every placeholder is defined, and none is an object key of a JSON template.
fn check_template(template: &str, paths: &BTreeMap<String, String>) -> Result<(), TransformError> {
    let json = is_json_template(template);
    for piece in scan(template) {
        if let Piece::Var { name, key, .. } = piece {
            if !paths.contains_key(name) && !PREDEFINED.contains(&name) {
                return Err(TransformError::UndefinedPlaceholder(name.to_owned()));
            }
            if json && key {
                return Err(TransformError::PlaceholderAsKey(name.to_owned()));
            }
        }
    }
    Ok(())
}

// ---- JSONPath ----------------------------------------------------------------------------

/// One step of the JSONPath subset EventBridge documents: "dot notation, dashes,
/// underscores, alphanumeric characters, array indices, wildcards (*), forward slashes";
/// and, for `InputPath` only, bracket notation (`$.detail['instance-id']`), which the
/// `Target` reference allows ("You may use JSON dot notation or bracket notation").
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
    Wildcard,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '/')
}

fn parse_path(path: &str, bracket_keys: bool) -> Result<Vec<Step>, String> {
    let Some(mut rest) = path.strip_prefix('$') else {
        return Err("it must start with $".to_owned());
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            if let Some(after) = after.strip_prefix('*') {
                steps.push(Step::Wildcard);
                rest = after;
                continue;
            }
            let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
            if end == 0 {
                return Err(match after.chars().next() {
                    Some('.') => "deep scan (..) is not supported".to_owned(),
                    Some(c) => format!("{c:?} cannot start a member name"),
                    None => "it ends with a dot".to_owned(),
                });
            }
            steps.push(Step::Key(after[..end].to_owned()));
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']').ok_or("a [ is not closed")?;
            let inner = &after[..close];
            let step = if inner == "*" {
                Step::Wildcard
            } else if !inner.is_empty() && inner.bytes().all(|b| b.is_ascii_digit()) {
                Step::Index(
                    inner
                        .parse()
                        .map_err(|_| format!("index {inner} is too large"))?,
                )
            } else if let Some(key) = quoted_key(inner) {
                if !bracket_keys {
                    return Err("InputPathsMap paths must use dot notation, not brackets".into());
                }
                Step::Key(key.to_owned())
            } else {
                return Err(format!(
                    "[{inner}] is not an array index, * or a quoted name"
                ));
            };
            steps.push(step);
            rest = &after[close + 1..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            return Err(format!("unexpected {c:?}"));
        }
    }
    Ok(steps)
}

/// `'name'` or `"name"`, without escapes inside.
fn quoted_key(inner: &str) -> Option<&str> {
    ['\'', '"'].into_iter().find_map(|q| {
        let key = inner.strip_prefix(q)?.strip_suffix(q)?;
        (!key.is_empty() && !key.contains(q)).then_some(key)
    })
}

/// What the path selects: `None` when a definite path (no wildcard) matches nothing; with
/// a wildcard, always the array of every match (empty when none), as JSONPath does.
fn select(root: &Value, steps: &[Step]) -> Option<Value> {
    let mut current = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in current {
            match (step, v) {
                (Step::Key(k), Value::Object(m)) => next.extend(m.get(k)),
                (Step::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                // Object members come in key order: serde_json's maps are sorted here.
                (Step::Wildcard, Value::Object(m)) => next.extend(m.values()),
                (Step::Wildcard, Value::Array(a)) => next.extend(a),
                _ => {}
            }
        }
        current = next;
    }
    if steps.contains(&Step::Wildcard) {
        Some(Value::Array(current.into_iter().cloned().collect()))
    } else {
        current.first().map(|v| (*v).clone())
    }
}

// ---- templates ---------------------------------------------------------------------------

fn is_json_template(template: &str) -> bool {
    let t = template.trim();
    t.starts_with('{') && t.ends_with('}')
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Piece<'t> {
    Text(&'t str),
    /// `<name>`; `quoted` when inside a JSON string literal; `key` when that literal, or
    /// the bare placeholder, is followed by `:` (an object key).
    Var {
        name: &'t str,
        quoted: bool,
        key: bool,
    },
}

fn is_var_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

fn followed_by_colon(rest: &str) -> bool {
    rest.trim_start().starts_with(':')
}

/// Splits a template into text and placeholders, tracking JSON string literals (a `"`
/// not escaped by `\` opens or closes one) in text templates too, since those are
/// usually one quoted string.
fn scan(template: &str) -> Vec<Piece<'_>> {
    let bytes = template.as_bytes();
    let mut pieces = Vec::new();
    let (mut in_string, mut escaped) = (false, false);
    // Placeholders of the string literal being read: marked as keys if it is one.
    let mut string_vars: Vec<usize> = Vec::new();
    let (mut text_start, mut i) = (0, 0);
    while i < bytes.len() {
        let b = bytes[i];
        if escaped {
            escaped = false;
        } else if in_string && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_string = !in_string;
            if !in_string {
                if followed_by_colon(&template[i + 1..]) {
                    for &v in &string_vars {
                        if let Piece::Var { key, .. } = &mut pieces[v] {
                            *key = true;
                        }
                    }
                }
                string_vars.clear();
            }
        } else if b == b'<' {
            let len = bytes[i + 1..]
                .iter()
                .take_while(|&&c| is_var_char(c))
                .count();
            if len > 0 && bytes.get(i + 1 + len) == Some(&b'>') {
                if text_start < i {
                    pieces.push(Piece::Text(&template[text_start..i]));
                }
                let end = i + 2 + len;
                if in_string {
                    string_vars.push(pieces.len());
                }
                pieces.push(Piece::Var {
                    name: &template[i + 1..i + 1 + len],
                    quoted: in_string,
                    key: !in_string && followed_by_colon(&template[end..]),
                });
                (text_start, i) = (end, end);
                continue;
            }
        }
        i += 1;
    }
    if text_start < bytes.len() {
        pieces.push(Piece::Text(&template[text_start..]));
    }
    pieces
}

struct Context<'a> {
    event: &'a Value,
    paths_map: &'a BTreeMap<String, String>,
    rule_arn: &'a str,
    ingestion_time: &'a str,
}

impl Context<'_> {
    /// A variable's value; `None` when its path matches nothing (or it is undefined, which
    /// `from_target` rules out).
    fn value(&self, name: &str) -> Result<Option<Value>, TransformError> {
        Ok(match name {
            "aws.events.rule-arn" => Some(Value::String(self.rule_arn.to_owned())),
            // A rule ARN ends with the rule's name (`rule/<name>` or `rule/<bus>/<name>`).
            "aws.events.rule-name" => {
                let name = self.rule_arn.rsplit('/').next().unwrap_or(self.rule_arn);
                Some(Value::String(name.to_owned()))
            }
            "aws.events.event.ingestion-time" => {
                Some(Value::String(self.ingestion_time.to_owned()))
            }
            "aws.events.event.json" => Some(self.event.clone()),
            "aws.events.event" => Some(envelope_without_detail(self.event)),
            _ => match self.paths_map.get(name) {
                Some(path) => {
                    let steps = parse_path(path, false).map_err(|reason| {
                        invalid_path(&format!("InputPathsMap.{name}"), path, reason)
                    })?;
                    select(self.event, &steps)
                }
                None => None,
            },
        })
    }
}

/// `<aws.events.event>`: "The original event payload as JSON (without the detail field)"
/// (the guide). Recorded on AWS, it also names `detail-type` `detailType`.
fn envelope_without_detail(event: &Value) -> Value {
    let Value::Object(m) = event else {
        return event.clone();
    };
    let out: Map<String, Value> = m
        .iter()
        .filter(|(k, _)| k.as_str() != "detail")
        .map(|(k, v)| {
            let k = if k == "detail-type" { "detailType" } else { k };
            (k.to_owned(), v.clone())
        })
        .collect();
    Value::Object(out)
}

fn fill(template: &str, context: &Context<'_>) -> Result<String, TransformError> {
    let json = is_json_template(template);
    let mut out = String::with_capacity(template.len());
    for piece in scan(template) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Var { name, quoted, .. } => {
                let value = context.value(name)?;
                let value = value.as_ref();
                match (json, quoted, value) {
                    // Missing: empty text, or an empty string where a JSON value is due.
                    (true, false, None) => out.push_str("\"\""),
                    (_, _, None) => {}
                    (true, false, Some(v)) => out.push_str(&v.to_string()),
                    (true, true, Some(Value::String(s))) => push_escaped(&mut out, s),
                    // Unescaped, as on AWS: quotes inside end the string, and the result
                    // fails to parse below.
                    (true, true, Some(v)) => out.push_str(&v.to_string()),
                    (false, true, Some(v)) => push_escaped(&mut out, &unquoted_text(v)),
                    (false, false, Some(v)) => out.push_str(&unquoted_text(v)),
                }
            }
        }
    }
    if !json {
        return Ok(out);
    }
    match serde_json::from_str::<serde::de::IgnoredAny>(&out) {
        Ok(_) => Ok(minify(&out)),
        Err(e) => Err(TransformError::InvalidJson {
            output: out,
            reason: e.to_string(),
        }),
    }
}

/// A value as text: strings as themselves, objects and arrays as JSON without quote marks
/// (recorded on AWS for text templates), anything else as JSON.
fn unquoted_text(v: &Value) -> String {
    let mut out = String::new();
    write_unquoted(&mut out, v);
    out
}

fn write_unquoted(out: &mut String, v: &Value) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_unquoted(out, item);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            for (i, (k, item)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                write_unquoted(out, item);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `s` escaped for the inside of a JSON string literal (serde_json's escaping: `"`, `\`
/// and control characters; other characters, non-ASCII included, stay as they are).
fn push_escaped(out: &mut String, s: &str) {
    let quoted = Value::String(s.to_owned()).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

/// Valid JSON without whitespace outside strings; members keep their order.
fn minify(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if matches!(c, ' ' | '\t' | '\n' | '\r') {
            continue;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[path = "transform_tests.rs"]
mod tests;
