//! EventBridge event-pattern engine.
//!
//! A pattern is parsed and validated once ([`Pattern::parse`] / [`Pattern::from_value`])
//! into flat rules: `$or` is expanded, nested keys become dotted paths (so `{"a": {"b": ..}}`
//! and `{"a.b": ..}` are the same field, in patterns and in events, as in AWS), and each
//! value becomes a precompiled [`matcher`]. Matching walks the event along each rule path
//! without building anything, so [`Pattern::matches`] does not allocate unless the event
//! has arrays of objects nested more than 8 deep.
//!
//! Semantics follow AWS EventBridge, whose matcher is aws/event-ruler:
//! - fields of one rule are ANDed, the values of one field are ORed;
//! - array values in events match if any element matches;
//! - fields taken from an array of objects must come from the same element
//!   ("array consistency"): `{"a": ["x"], "b": ["y"]}` does not match
//!   `[{"a": "x"}, {"b": "y"}]`;
//! - numbers (exact values, `numeric`, numeric `anything-but`) compare as IEEE doubles, so
//!   `300` equals `300.0` and `3.018e2` equals `301.8`; exact numbers that are out of double
//!   range still match their own text;
//! - `anything-but` matches any present value of another type (null, booleans, numbers vs
//!   a string list), but never a missing field;
//! - `exists` looks at leaf values only: an object or an empty array does not "exist".

mod compile;
mod json;
mod matcher;
mod set;

pub use set::RuleSet;

use json::JVal;
use matcher::{Matcher, Scalar};

/// A pattern AWS would reject; `Display` gives AWS's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {reason}")]
pub struct PatternError {
    /// The reason alone, e.g. `Empty arrays are not allowed`.
    pub reason: String,
}

impl PatternError {
    fn new(reason: impl Into<String>) -> Self {
        PatternError {
            reason: reason.into(),
        }
    }
}

/// Raw event text that is not JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event is not valid JSON: {0}")]
pub struct EventParseError(pub String);

/// A compiled event pattern.
#[derive(Debug, Clone)]
pub struct Pattern {
    rules: Box<[Rule]>,
}

/// One `$or` alternative: every field must match.
#[derive(Debug, Clone)]
struct Rule {
    fields: Box<[Field]>,
}

#[derive(Debug, Clone)]
struct Field {
    /// Dotted path, e.g. `detail.state`.
    path: Box<str>,
    /// ORed alternatives.
    matchers: Box<[Matcher]>,
    /// Whether `{"exists": false}` is among them.
    absence: bool,
}

/// An event parsed from raw JSON text, keeping numbers as written. Parse once, then match
/// it against many patterns with [`Pattern::matches_event`].
#[derive(Debug, Clone)]
pub struct Event {
    root: JVal,
}

impl Event {
    pub fn parse(text: &str) -> Result<Event, EventParseError> {
        json::parse(text)
            .map(|root| Event { root })
            .map_err(EventParseError)
    }
}

impl Pattern {
    /// Parses and validates pattern JSON text. Duplicate keys are allowed; as in AWS the
    /// later one wins for the same path.
    pub fn parse(text: &str) -> Result<Pattern, PatternError> {
        let v = json::parse(text).map_err(PatternError::new)?;
        Self::from_json(&v)
    }

    /// Validates an already-parsed pattern. Note that `serde_json::Map` sorts keys, and key
    /// order matters when one path is given twice (the later wins, e.g. a field both outside
    /// and inside `$or`); prefer [`Pattern::parse`] on the original text in that case.
    pub fn from_value(v: &serde_json::Value) -> Result<Pattern, PatternError> {
        Self::from_json(&json::from_serde(v))
    }

    fn from_json(v: &JVal) -> Result<Pattern, PatternError> {
        let rules = compile::compile(v).map_err(PatternError::new)?;
        Ok(Pattern {
            rules: rules.into_boxed_slice(),
        })
    }

    /// Does the event match? Non-object events never match.
    pub fn matches(&self, event: &serde_json::Value) -> bool {
        self.matches_node(event)
    }

    /// Matches raw event JSON, comparing numbers as written where a double would lose them.
    pub fn matches_json(&self, text: &str) -> Result<bool, EventParseError> {
        Ok(self.matches_event(&Event::parse(text)?))
    }

    /// Matches an event parsed with [`Event::parse`].
    pub fn matches_event(&self, event: &Event) -> bool {
        self.matches_node(&event.root)
    }

    fn matches_node<N: Node>(&self, root: &N) -> bool {
        if !matches!(root.view(), View::Obj) {
            return false;
        }
        self.rules
            .iter()
            .any(|r| match_fields(&r.fields, root, None))
    }
}

// ---------------------------------------------------------------------------------------
// Event access, generic over serde_json::Value and our own raw-text tree.

enum View<'a, N> {
    Obj,
    Arr(&'a [N]),
    Leaf(Scalar<'a>),
}

trait Node: Sized {
    fn view(&self) -> View<'_, Self>;
    /// Calls `f` for each child under `key` (more than one only for duplicate keys in raw
    /// events); stops when `f` returns true.
    fn each_child<'a>(&'a self, key: &str, f: &mut dyn FnMut(&'a Self) -> bool) -> bool;
    /// Calls `f(rest, child)` for each child whose key is the dotted `path` itself (`rest`
    /// is `None`) or a head of it up to a dot (`rest` is what follows the dot); stops when
    /// `f` returns true.
    fn each_on_path<'a, 'p>(
        &'a self,
        path: &'p str,
        f: &mut dyn FnMut(Option<&'p str>, &'a Self) -> bool,
    ) -> bool;
}

/// How an object key relates to a dotted path: `Some(None)` when it is the whole path,
/// `Some(Some(rest))` when it is a head of it followed by a dot, `None` otherwise.
#[inline]
fn split_on<'p>(path: &'p str, key: &str) -> Option<Option<&'p str>> {
    // Most keys differ from the path in their first byte: reject those without a compare.
    if let Some(k) = key.as_bytes().first()
        && path.as_bytes().first() != Some(k)
    {
        return None;
    }
    let rest = path.strip_prefix(key)?;
    if rest.is_empty() {
        Some(None)
    } else {
        rest.strip_prefix('.').map(Some)
    }
}

/// Up to this many keys, one pass over an object's entries finds every key on a dotted
/// path more cheaply than a map lookup per possible head (`a.b.c`, `a.b`, `a`).
const SCAN_KEYS: usize = 16;

impl Node for serde_json::Value {
    #[inline]
    fn view(&self) -> View<'_, Self> {
        use serde_json::Value as V;
        match self {
            V::Null => View::Leaf(Scalar::Null),
            V::Bool(b) => View::Leaf(Scalar::Bool(*b)),
            V::Number(n) => View::Leaf(Scalar::Num {
                f: n.as_f64().unwrap_or(f64::NAN),
                text: None,
            }),
            V::String(s) => View::Leaf(Scalar::Str(s)),
            V::Array(a) => View::Arr(a),
            V::Object(_) => View::Obj,
        }
    }

    #[inline]
    fn each_child<'a>(&'a self, key: &str, f: &mut dyn FnMut(&'a Self) -> bool) -> bool {
        match self {
            serde_json::Value::Object(o) => o.get(key).is_some_and(f),
            _ => false,
        }
    }

    fn each_on_path<'a, 'p>(
        &'a self,
        path: &'p str,
        f: &mut dyn FnMut(Option<&'p str>, &'a Self) -> bool,
    ) -> bool {
        let serde_json::Value::Object(o) = self else {
            return false;
        };
        if o.len() <= SCAN_KEYS {
            return o
                .iter()
                .any(|(k, v)| split_on(path, k).is_some_and(|rest| f(rest, v)));
        }
        if o.get(path).is_some_and(|v| f(None, v)) {
            return true;
        }
        path.bytes().enumerate().any(|(i, b)| {
            b == b'.'
                && o.get(&path[..i])
                    .is_some_and(|v| f(Some(&path[i + 1..]), v))
        })
    }
}

impl Node for JVal {
    #[inline]
    fn view(&self) -> View<'_, Self> {
        match self {
            JVal::Null => View::Leaf(Scalar::Null),
            JVal::Bool(b) => View::Leaf(Scalar::Bool(*b)),
            JVal::Num(n) => View::Leaf(Scalar::Num {
                f: n.f,
                text: Some(&n.text),
            }),
            JVal::Str(s) => View::Leaf(Scalar::Str(s)),
            JVal::Arr(a) => View::Arr(a),
            JVal::Obj(_) => View::Obj,
        }
    }

    #[inline]
    fn each_child<'a>(&'a self, key: &str, f: &mut dyn FnMut(&'a Self) -> bool) -> bool {
        match self {
            JVal::Obj(o) => o.iter().any(|(k, v)| k == key && f(v)),
            _ => false,
        }
    }

    fn each_on_path<'a, 'p>(
        &'a self,
        path: &'p str,
        f: &mut dyn FnMut(Option<&'p str>, &'a Self) -> bool,
    ) -> bool {
        match self {
            JVal::Obj(o) => o
                .iter()
                .any(|(k, v)| split_on(path, k).is_some_and(|rest| f(rest, v))),
            _ => false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Array membership: which element of which array a value came from. Arrays are identified
// by address, which is stable while the event is borrowed.

const INLINE: usize = 8;

#[derive(Default)]
struct Membership {
    inline: [(usize, u32); INLINE],
    len: usize,
    spill: Vec<(usize, u32)>,
}

impl Membership {
    fn push(&mut self, e: (usize, u32)) {
        if self.len < INLINE {
            self.inline[self.len] = e;
        } else {
            self.spill.push(e);
        }
        self.len += 1;
    }

    fn pop(&mut self) {
        if self.len > INLINE {
            self.spill.pop();
        }
        self.len = self.len.saturating_sub(1);
    }

    fn entries(&self) -> impl Iterator<Item = &(usize, u32)> {
        self.inline[..self.len.min(INLINE)]
            .iter()
            .chain(self.spill.iter())
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The memberships of values already chosen for earlier fields of a rule.
struct Chain<'a> {
    m: &'a Membership,
    prev: Option<&'a Chain<'a>>,
}

fn consistent(m: &Membership, mut chain: Option<&Chain<'_>>) -> bool {
    if m.is_empty() {
        return true;
    }
    while let Some(c) = chain {
        for &(id, idx) in c.m.entries() {
            if m.entries().any(|&(id2, idx2)| id2 == id && idx2 != idx) {
                return false;
            }
        }
        chain = c.prev;
    }
    true
}

type Visit<'v, 'e> = dyn FnMut(Scalar<'e>, &Membership) -> bool + 'v;

/// Visits every leaf value at dotted `path` below `node`. A key containing dots in the
/// event matches the same dotted path as nested objects. Returns true if `f` asked to stop.
fn lookup<'e, N: Node>(
    node: &'e N,
    path: &str,
    memb: &mut Membership,
    f: &mut Visit<'_, 'e>,
) -> bool {
    match node.view() {
        // The key may be the whole path or any dotted head of it (`{"a.b": ..}` or
        // `{"a": {"b": ..}}`); every such key counts.
        View::Obj => node.each_on_path(path, &mut |rest, child| match rest {
            None => leaves(child, memb, f),
            Some(tail) => lookup(child, tail, memb, f),
        }),
        View::Arr(items) => {
            let id = items.as_ptr() as usize;
            for (idx, item) in items.iter().enumerate() {
                if matches!(item.view(), View::Leaf(_)) {
                    continue; // scalars have no children
                }
                memb.push((id, idx as u32));
                let stop = lookup(item, path, memb, f);
                memb.pop();
                if stop {
                    return true;
                }
            }
            false
        }
        View::Leaf(_) => false,
    }
}

/// Leaf values of the value found at the end of a path: the scalar itself, or the scalars
/// of an array (nested arrays included). Objects have no value at this path.
fn leaves<'e, N: Node>(node: &'e N, memb: &mut Membership, f: &mut Visit<'_, 'e>) -> bool {
    match node.view() {
        View::Leaf(s) => f(s, memb),
        View::Arr(items) => {
            let id = items.as_ptr() as usize;
            for (idx, item) in items.iter().enumerate() {
                let stop = match item.view() {
                    View::Leaf(s) => f(s, memb),
                    View::Arr(_) => {
                        // Scalars directly in an array are alternatives of one field; only
                        // stepping into a nested container records which element it was.
                        memb.push((id, idx as u32));
                        let stop = leaves(item, memb, f);
                        memb.pop();
                        stop
                    }
                    View::Obj => false,
                };
                if stop {
                    return true;
                }
            }
            false
        }
        View::Obj => false,
    }
}

/// Backtracking over fields: pick, for each field, a matching value whose array
/// memberships agree with those picked so far.
fn match_fields<N: Node>(fields: &[Field], root: &N, chain: Option<&Chain<'_>>) -> bool {
    let Some((field, rest)) = fields.split_first() else {
        return true;
    };
    let mut matched = false;
    let mut seen_consistent = false;
    let mut memb = Membership::default();
    lookup(root, &field.path, &mut memb, &mut |v, m| {
        if !consistent(m, chain) {
            return false;
        }
        seen_consistent = true;
        if !field.matchers.iter().any(|x| x.test(v)) {
            return false;
        }
        let link = Chain { m, prev: chain };
        if match_fields(rest, root, Some(&link)) {
            matched = true;
            return true;
        }
        // A value outside any array constrains nothing, so another value cannot do better.
        m.is_empty()
    });
    if matched {
        return true;
    }
    if field.absence && !seen_consistent {
        return match_fields(rest, root, chain);
    }
    false
}

#[cfg(test)]
mod set_tests;
#[cfg(test)]
mod tests;
