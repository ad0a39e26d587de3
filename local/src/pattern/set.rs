//! Matching one event against many patterns: [`RuleSet`].
//!
//! Nearly every EventBridge rule names the events it wants by `source` (often with
//! `detail-type`), so most rules cannot match a given event at all. The set indexes each
//! `$or` branch of each pattern by those exact values (or `source` prefixes) and only
//! matches the candidates that an event's own `source`/`detail-type` select, plus the
//! patterns that could not be indexed. The index never rejects a pattern that the full
//! matcher would accept, so the result is the same as running every pattern (the tests
//! check that against the naive loop on the conformance corpus and generated events).
//!
//! A candidate found by exact lookups only needs the rest of its branch checked: the
//! "residual", the branch less the fields its key proved. `{"source": ["a"],
//! "detail-type": ["b"]}`, the commonest rule, has an empty residual and never runs the
//! matcher. (Dropping those fields is sound: a top-level string is in no array, so it
//! constrains no other field's array element.)

use std::cell::RefCell;
use std::collections::HashMap;

use super::matcher::Matcher;
use super::{Event, Field, Node, Pattern, Rule, View, match_fields};

const SOURCE: &str = "source";
const DETAIL_TYPE: &str = "detail-type";
/// Above this many `(source, detail-type)` pairs for one `$or` branch, index by source alone.
const MAX_PAIRS: usize = 64;
/// Candidate code: the branch is proven by its key alone.
const DECIDED: u32 = 0;
/// Candidate code: found without exact lookups (or not indexed); run the whole pattern.
const FULL: u32 = u32::MAX;

/// Rules' patterns, indexed for matching one event against all of them.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    patterns: Vec<Pattern>,
    /// Indexed branches less the fields their key proves; entry code `n` is `residuals[n-1]`.
    residuals: Vec<Box<[Field]>>,
    /// Exact `source` value -> its entries.
    by_source: HashMap<Box<str>, SourceBucket>,
    /// `source` prefix -> entries; one item per distinct prefix, scanned linearly (rules
    /// share few prefixes, typically an organisation's `com.example.`).
    by_prefix: Vec<(Box<str>, Vec<Entry>)>,
    /// Exact `detail-type` value -> branches that constrain it but not `source`.
    by_detail_type: HashMap<Box<str>, Vec<Entry>>,
    /// Patterns with a branch the index cannot narrow: matched against every event.
    fallback: Vec<u32>,
}

#[derive(Debug, Clone, Default)]
struct SourceBucket {
    /// Branches that name this source and constrain `detail-type` otherwise, or not at all.
    any_detail_type: Vec<Entry>,
    /// Branches that name this source together with exact `detail-type` values.
    by_detail_type: HashMap<Box<str>, Vec<Entry>>,
}

/// One indexed branch: its pattern, and `DECIDED` or its residual's number.
#[derive(Debug, Clone, Copy)]
struct Entry {
    pattern: u32,
    code: u32,
}

/// What the index keys one `$or` branch under.
enum Keys<'p> {
    Pairs(Vec<(&'p str, &'p str)>),
    Source {
        exact: Vec<&'p str>,
        prefixes: Vec<&'p str>,
    },
    DetailType(Vec<&'p str>),
}

thread_local! {
    /// Candidates of the event being matched, reused so matching does not allocate.
    static SCRATCH: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// The event's value for an indexed field.
enum Key<'e> {
    /// No such field: an indexed branch needs a string there, so it cannot match.
    Missing,
    One(&'e str),
    /// Anything else (array, number, duplicate keys in raw JSON): be conservative and
    /// take every pattern indexed on the field as a candidate.
    Other,
}

impl RuleSet {
    /// Indexes `patterns`; [`RuleSet::matches`] reports matches by position in this list.
    pub fn new(patterns: impl IntoIterator<Item = Pattern>) -> RuleSet {
        let mut set = RuleSet::default();
        for p in patterns {
            set.push(p);
        }
        set
    }

    /// Adds a pattern at index `self.len()`.
    pub fn push(&mut self, pattern: Pattern) {
        // (More than 2^32 patterns cannot be held in memory anyway.)
        let idx = u32::try_from(self.patterns.len()).unwrap_or(u32::MAX);
        let keyed: Option<Vec<(Keys<'_>, &Rule)>> = pattern
            .rules
            .iter()
            .map(|r| keys(r).map(|k| (k, r)))
            .collect();
        let Some(keyed) = keyed else {
            // One branch the index cannot narrow makes the whole pattern a candidate always.
            self.fallback.push(idx);
            self.patterns.push(pattern);
            return;
        };
        for (k, rule) in keyed {
            let proven: &[&str] = match k {
                Keys::Pairs(_) => &[SOURCE, DETAIL_TYPE],
                Keys::Source { .. } => &[SOURCE],
                Keys::DetailType(_) => &[DETAIL_TYPE],
            };
            let residual: Box<[Field]> = rule
                .fields
                .iter()
                .filter(|f| !proven.contains(&&*f.path))
                .cloned()
                .collect();
            let code = if residual.is_empty() {
                DECIDED
            } else {
                self.residuals.push(residual);
                u32::try_from(self.residuals.len()).unwrap_or(FULL)
            };
            let e = Entry { pattern: idx, code };
            match k {
                Keys::Pairs(pairs) => {
                    for (s, d) in pairs {
                        let bucket = self.by_source.entry(s.into()).or_default();
                        bucket.by_detail_type.entry(d.into()).or_default().push(e);
                    }
                }
                Keys::Source { exact, prefixes } => {
                    for s in exact {
                        let bucket = self.by_source.entry(s.into()).or_default();
                        bucket.any_detail_type.push(e);
                    }
                    for p in prefixes {
                        match self.by_prefix.iter_mut().find(|(q, _)| **q == *p) {
                            Some((_, list)) => list.push(e),
                            None => self.by_prefix.push((p.into(), vec![e])),
                        }
                    }
                }
                Keys::DetailType(values) => {
                    for d in values {
                        self.by_detail_type.entry(d.into()).or_default().push(e);
                    }
                }
            }
        }
        self.patterns.push(pattern);
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn patterns(&self) -> &[Pattern] {
        &self.patterns
    }

    /// Indices of the patterns matching `event`, ascending.
    pub fn matching(&self, event: &serde_json::Value) -> Vec<usize> {
        let mut out = Vec::new();
        self.matches(event, &mut out);
        out
    }

    /// Replaces `out` with the indices of the patterns matching `event`, ascending. Reusing
    /// `out` across events makes matching allocation-free once it has grown.
    pub fn matches(&self, event: &serde_json::Value, out: &mut Vec<usize>) {
        self.matches_node(event, out);
    }

    /// Like [`RuleSet::matches`] for an event parsed from raw text with [`Event::parse`].
    pub fn matches_event(&self, event: &Event, out: &mut Vec<usize>) {
        self.matches_node(&event.root, out);
    }

    fn matches_node<N: Node>(&self, root: &N, out: &mut Vec<usize>) {
        out.clear();
        if !matches!(root.view(), View::Obj) {
            return;
        }
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => self.decide(root, &mut scratch, out),
            // Not reachable (matching never re-enters), but never panic.
            Err(_) => self.decide(root, &mut Vec::new(), out),
        });
    }

    fn decide<N: Node>(&self, root: &N, cands: &mut Vec<u64>, out: &mut Vec<usize>) {
        cands.clear();
        self.candidates(root, cands);
        // Candidates are `pattern << 32 | code`; sorting groups each pattern's candidates
        // (several keys or branches may select it), decided ones first, in rule order.
        cands.sort_unstable();
        let mut i = 0;
        while i < cands.len() {
            let pattern = cands[i] >> 32;
            let mut matched = false;
            while i < cands.len() && cands[i] >> 32 == pattern {
                if !matched {
                    matched = self.check(pattern as usize, cands[i] as u32, root);
                }
                i += 1;
            }
            if matched {
                out.push(pattern as usize);
            }
        }
    }

    fn check<N: Node>(&self, pattern: usize, code: u32, root: &N) -> bool {
        match code {
            DECIDED => true,
            FULL => self
                .patterns
                .get(pattern)
                .is_some_and(|p| p.matches_node(root)),
            n => self
                .residuals
                .get(n as usize - 1)
                .is_some_and(|fields| match_fields(fields, root, None)),
        }
    }

    fn candidates<N: Node>(&self, root: &N, out: &mut Vec<u64>) {
        // `exact`: the list was found by exact lookups of single strings, so its entries'
        // keys hold and their residuals suffice; otherwise check whole patterns.
        let extend = |out: &mut Vec<u64>, list: &[Entry], exact: bool| {
            out.extend(list.iter().map(|e| {
                let code = if exact { e.code } else { FULL };
                u64::from(e.pattern) << 32 | u64::from(code)
            }));
        };
        out.extend(
            self.fallback
                .iter()
                .map(|&p| u64::from(p) << 32 | u64::from(FULL)),
        );
        let detail_type = key(root, DETAIL_TYPE);
        match key(root, SOURCE) {
            Key::Missing => {}
            Key::One(source) => {
                if let Some(bucket) = self.by_source.get(source) {
                    extend(out, &bucket.any_detail_type, true);
                    match detail_type {
                        Key::Missing => {}
                        Key::One(d) => {
                            if let Some(list) = bucket.by_detail_type.get(d) {
                                extend(out, list, true);
                            }
                        }
                        Key::Other => {
                            for list in bucket.by_detail_type.values() {
                                extend(out, list, false);
                            }
                        }
                    }
                }
                for (prefix, list) in &self.by_prefix {
                    if source.starts_with(&**prefix) {
                        extend(out, list, true);
                    }
                }
            }
            Key::Other => {
                for bucket in self.by_source.values() {
                    extend(out, &bucket.any_detail_type, false);
                    for list in bucket.by_detail_type.values() {
                        extend(out, list, false);
                    }
                }
                for (_, list) in &self.by_prefix {
                    extend(out, list, false);
                }
            }
        }
        match detail_type {
            Key::Missing => {}
            Key::One(d) => {
                if let Some(list) = self.by_detail_type.get(d) {
                    extend(out, list, true);
                }
            }
            Key::Other => {
                for list in self.by_detail_type.values() {
                    extend(out, list, false);
                }
            }
        }
    }
}

/// The event's value for a top-level field without dots (so only a direct child can
/// provide it, see `lookup`).
fn key<'e, N: Node>(root: &'e N, name: &str) -> Key<'e> {
    let mut found: Option<&'e N> = None;
    let mut count = 0;
    root.each_child(name, &mut |child| {
        found = Some(child);
        count += 1;
        count > 1
    });
    match (count, found.map(Node::view)) {
        (0, _) => Key::Missing,
        (1, Some(View::Leaf(super::matcher::Scalar::Str(s)))) => Key::One(s),
        _ => Key::Other,
    }
}

/// The strings a field of a branch accepts, if it accepts only event strings equal to
/// (or, with `allow_prefix`, starting with) listed values.
fn string_keys<'p>(rule: &'p Rule, path: &str, allow_prefix: bool) -> Option<StringKeys<'p>> {
    let field = rule.fields.iter().find(|f| &*f.path == path)?;
    let mut keys = StringKeys::default();
    for m in &field.matchers {
        match m {
            // A string that is an IP address also matches other spellings of it.
            Matcher::Str { s, ip: None } => keys.exact.push(s),
            Matcher::Prefix(p) if allow_prefix => keys.prefixes.push(p),
            _ => return None,
        }
    }
    Some(keys)
}

#[derive(Default)]
struct StringKeys<'p> {
    exact: Vec<&'p str>,
    prefixes: Vec<&'p str>,
}

/// The keys to index one branch under, if its `source` or `detail-type` field only
/// accepts listed strings.
fn keys(rule: &Rule) -> Option<Keys<'_>> {
    let source = string_keys(rule, SOURCE, true);
    let detail_type = string_keys(rule, DETAIL_TYPE, false);
    match (source, detail_type) {
        (Some(s), Some(d))
            if s.prefixes.is_empty() && s.exact.len() * d.exact.len() <= MAX_PAIRS =>
        {
            let mut pairs = Vec::with_capacity(s.exact.len() * d.exact.len());
            for src in &s.exact {
                for dt in &d.exact {
                    pairs.push((*src, *dt));
                }
            }
            Some(Keys::Pairs(pairs))
        }
        (Some(s), _) => Some(Keys::Source {
            exact: s.exact,
            prefixes: s.prefixes,
        }),
        (None, Some(d)) => Some(Keys::DetailType(d.exact)),
        (None, None) => None,
    }
}
