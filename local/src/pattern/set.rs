//! Matching one event against many patterns: [`RuleSet`].
//!
//! Most rules can match only a small share of the events: they name a `source` and
//! `detail-type`, or a content value such as `detail.status`. The set indexes each `$or`
//! branch under its *keys*: up to two fields that accept only listed strings (exact values
//! or prefixes; see `choose_keys`). For each event it looks up the event's values at each
//! indexed path once, for all branches together, and a branch is a candidate only if a
//! value was found for each of its keys. Only candidates, and the branches without keys,
//! run the matcher. Only strings equal to or starting with a key's values satisfy its
//! field, and the lookup finds every value the matcher would look at, so the index never
//! drops a branch the matcher would accept: the result is the same as running every
//! pattern (the tests check that against the naive loop on the conformance corpus, the
//! fixtures and generated events).
//!
//! A key value found outside any array proves its field, so a candidate whose keys were
//! all found that way only needs the rest of its branch checked: the "residual".
//! `{"source": ["a"], "detail-type": ["b"]}`, the commonest rule, has an empty residual
//! and never runs the matcher. (Dropping a proven field is sound: a value in no array
//! constrains no other field's array element.) A key value found only inside arrays of
//! objects must come from the same element as the other fields' values, so such a
//! candidate runs its whole branch. Residuals of one field (an amount range, an
//! `anything-but`) that share a path are settled together with one lookup of it.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::matcher::{Matcher, Scalar};
use super::{
    Event, Field, Membership, Node, Pattern, Rule, View, Visit, leaves, lookup, match_fields,
};

/// At most this many keys per branch. Every key costs a hit for each event carrying one of
/// its values, and two (typically `source` and `detail-type`) leave few candidates.
const MAX_KEYS: usize = 2;
const _: () = assert!(MAX_KEYS <= 8, "a branch's keys are bits of a byte");

/// Rules' patterns, indexed for matching one event against all of them.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    patterns: Vec<Pattern>,
    /// Every `$or` branch of every pattern, numbered in pattern order.
    branches: Vec<Branch>,
    /// The branches without keys: they are candidates for every event.
    unkeyed: Vec<u32>,
    /// One per path that keys are on.
    keys: Vec<KeyIndex>,
    /// The paths of the residuals that are one field (see `RuleSet::probe`).
    probes: Vec<EventPath>,
}

#[derive(Debug, Clone)]
struct Branch {
    pattern: u32,
    /// Its position in the pattern's rules.
    rule: u32,
    /// How many keys it has: a candidate has a hit on each.
    keys: u32,
    /// Its fields less its keys.
    residual: Box<[Field]>,
    /// When the residual is one field: its path's number in `RuleSet::probes`.
    probe: Option<u32>,
}

/// A path looked up once per event for all the branches that need it.
#[derive(Debug, Clone)]
struct EventPath {
    path: Box<str>,
    /// The path has no dots: only the top-level key of that name is on it.
    top_level: bool,
}

/// The keys on one path. A hit is `branch << 32 | all << 16 | key`: `key` is the key's
/// bit within its branch (`1 << n` for its `n`th key) and `all` the bits of all its keys.
#[derive(Debug, Clone)]
struct KeyIndex {
    at: EventPath,
    exact: HashMap<Box<str>, Vec<u64>, BuildFold>,
    /// One item per distinct prefix, scanned linearly (rules share few prefixes,
    /// typically an organisation's `com.example.`).
    prefixes: Vec<(Box<str>, Vec<u64>)>,
}

/// Bits of a hit or of a branch's state that hold key bits.
const KEY_BITS: u64 = 0xff;
/// Where a branch's state holds the keys found outside arrays.
const OUTSIDE: u32 = 8;
/// Marks a settled entry in `RuleSet::probe`.
const SATISFIED: u64 = 1 << 32;

/// Per-event work, reused so matching does not allocate (once grown).
struct Scratch {
    /// Numbers the events, so that `state` need not be cleared between them.
    epoch: u32,
    /// Per branch: `epoch << 32 | outside << OUTSIDE | found`, the bits of the keys found
    /// for the current event's epoch (any older epoch means none).
    state: Vec<u64>,
    /// Branches with all their keys found, then the unkeyed ones.
    candidates: Vec<u32>,
    /// Candidates left to `RuleSet::probe`: `probe << 32 | branch`.
    probes: Vec<u64>,
}

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            epoch: 0,
            state: Vec::new(),
            candidates: Vec::new(),
            probes: Vec::new(),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

impl EventPath {
    fn new(path: &str) -> EventPath {
        EventPath {
            path: path.into(),
            top_level: !path.contains('.'),
        }
    }

    /// Visits the leaf values at the path, as `lookup` does; stops when `f` returns true.
    fn visit<'e, N: Node>(
        &self,
        root: &'e N,
        memb: &mut Membership,
        f: &mut Visit<'_, 'e>,
    ) -> bool {
        if self.top_level {
            // The same values as `lookup`, without its search for dotted heads.
            root.each_child(&self.path, &mut |child| match child.view() {
                View::Leaf(s) => f(s, memb),
                _ => leaves(child, memb, f),
            })
        } else {
            lookup(root, &self.path, memb, f)
        }
    }
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
        // (More than 2^32 patterns or branches cannot be held in memory anyway.)
        let p = u32::try_from(self.patterns.len()).unwrap_or(u32::MAX);
        for (r, rule) in pattern.rules.iter().enumerate() {
            let b = u32::try_from(self.branches.len()).unwrap_or(u32::MAX);
            let keys = choose_keys(rule);
            let all = (1u64 << keys.len()) - 1;
            for (n, &f) in keys.iter().enumerate() {
                self.index_key(&rule.fields[f], u64::from(b) << 32 | all << 16 | 1 << n);
            }
            if keys.is_empty() {
                self.unkeyed.push(b);
            }
            let residual: Box<[Field]> = (0..rule.fields.len())
                .filter(|i| !keys.contains(i))
                .map(|i| rule.fields[i].clone())
                .collect();
            let probe = match &*residual {
                [one] => Some(self.probe_of(&one.path)),
                _ => None,
            };
            self.branches.push(Branch {
                pattern: p,
                rule: u32::try_from(r).unwrap_or(u32::MAX),
                keys: keys.len() as u32,
                residual,
                probe,
            });
        }
        self.patterns.push(pattern);
    }

    /// Files `hit` under each value of a key field.
    fn index_key(&mut self, field: &Field, hit: u64) {
        let index = match self.keys.iter().position(|k| k.at.path == field.path) {
            Some(i) => &mut self.keys[i],
            None => {
                self.keys.push(KeyIndex {
                    at: EventPath::new(&field.path),
                    exact: HashMap::default(),
                    prefixes: Vec::new(),
                });
                let last = self.keys.len() - 1;
                &mut self.keys[last]
            }
        };
        for m in &field.matchers {
            let list = match m {
                Matcher::Str { s, .. } => index.exact.entry(s.clone()).or_default(),
                Matcher::Prefix(pre) => match index.prefixes.iter().position(|(q, _)| q == pre) {
                    Some(i) => &mut index.prefixes[i].1,
                    None => {
                        index.prefixes.push((pre.clone(), Vec::new()));
                        let last = index.prefixes.len() - 1;
                        &mut index.prefixes[last].1
                    }
                },
                // `choose_keys` takes no field with other matchers.
                _ => continue,
            };
            // A value listed twice needs one hit.
            if list.last() != Some(&hit) {
                list.push(hit);
            }
        }
    }

    fn probe_of(&mut self, path: &str) -> u32 {
        let i = match self.probes.iter().position(|x| &*x.path == path) {
            Some(i) => i,
            None => {
                self.probes.push(EventPath::new(path));
                self.probes.len() - 1
            }
        };
        u32::try_from(i).unwrap_or(u32::MAX)
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
            Err(_) => self.decide(root, &mut Scratch::new(), out),
        });
    }

    fn decide<N: Node>(&self, root: &N, scratch: &mut Scratch, out: &mut Vec<usize>) {
        scratch.epoch = scratch.epoch.wrapping_add(1);
        if scratch.epoch == 0 {
            // Wrapped: states from 2^32 events ago would look current.
            scratch.state.fill(0);
            scratch.epoch = 1;
        }
        if scratch.state.len() < self.branches.len() {
            scratch.state.resize(self.branches.len(), 0);
        }
        let Scratch {
            epoch,
            state,
            candidates,
            probes,
        } = scratch;
        let epoch = u64::from(*epoch);
        candidates.clear();
        probes.clear();
        self.collect(root, epoch, state, candidates);
        candidates.extend_from_slice(&self.unkeyed);
        // Branches are numbered in pattern order, so patterns come out ascending.
        candidates.sort_unstable();
        let mut last_matched = None;
        for &b in candidates.iter() {
            let Some(branch) = self.branches.get(b as usize) else {
                continue;
            };
            if last_matched == Some(branch.pattern) {
                continue;
            }
            let all = (1u64 << branch.keys) - 1;
            let outside = state.get(b as usize).map_or(0, |s| s >> OUTSIDE & KEY_BITS);
            let proven = outside & all == all;
            match branch.probe {
                Some(probe) if proven => probes.push(u64::from(probe) << 32 | u64::from(b)),
                _ => {
                    if self.check(branch, proven, root) {
                        out.push(branch.pattern as usize);
                        last_matched = Some(branch.pattern);
                    }
                }
            }
        }
        if !probes.is_empty() {
            self.probe(root, probes, out);
            out.sort_unstable();
            out.dedup();
        }
    }

    /// Whether a candidate branch matches; `proven`: each key was found outside arrays.
    fn check<N: Node>(&self, branch: &Branch, proven: bool, root: &N) -> bool {
        if proven {
            return match_fields(&branch.residual, root, None);
        }
        self.patterns
            .get(branch.pattern as usize)
            .and_then(|p| p.rules.get(branch.rule as usize))
            .is_some_and(|r| match_fields(&r.fields, root, None))
    }

    /// Settles the candidates whose residual is one field, walking each of those fields'
    /// paths once for all of them (many rules test one path, e.g. an amount against
    /// different ranges). With no other field to agree with, a field matches if any value
    /// at its path satisfies it, or, for `exists: false`, if there is none: what
    /// `match_fields` decides for it alone.
    fn probe<N: Node>(&self, root: &N, pending: &mut [u64], out: &mut Vec<usize>) {
        pending.sort_unstable();
        let mut memb = Membership::default();
        for group in pending.chunk_by_mut(|a, b| a >> 32 == b >> 32) {
            let Some(at) = group
                .first()
                .and_then(|d| self.probes.get((d >> 32) as usize))
            else {
                continue;
            };
            // From here on an entry is its branch, and `SATISFIED` once a value matched.
            for d in group.iter_mut() {
                *d &= u64::from(u32::MAX);
            }
            let field = |d: u64| {
                self.branches
                    .get(d as u32 as usize)
                    .and_then(|b| b.residual.first())
            };
            let (mut seen, mut open) = (false, group.len());
            at.visit(root, &mut memb, &mut |v, _| {
                seen = true;
                for d in group.iter_mut() {
                    if *d & SATISFIED == 0
                        && field(*d).is_some_and(|f| f.matchers.iter().any(|m| m.test(v)))
                    {
                        *d |= SATISFIED;
                        open -= 1;
                    }
                }
                open == 0
            });
            for &d in group.iter() {
                let absent = !seen && field(d).is_some_and(|f| f.absence);
                if (d & SATISFIED != 0 || absent)
                    && let Some(b) = self.branches.get(d as u32 as usize)
                {
                    out.push(b.pattern as usize);
                }
            }
        }
    }

    /// Records the keys that the event's values satisfy in `state`, and adds each branch
    /// to `candidates` when its last key is found.
    fn collect<N: Node>(&self, root: &N, epoch: u64, state: &mut [u64], candidates: &mut Vec<u32>) {
        for index in &self.keys {
            // `outside`: the value is in no array.
            let mut found = |v: Scalar<'_>, outside: bool| {
                // Only strings satisfy a key (see `choose_keys`).
                let Scalar::Str(s) = v else {
                    return;
                };
                let mut hit = |h: u64| {
                    let b = (h >> 32) as usize;
                    let Some(st) = state.get_mut(b) else {
                        return;
                    };
                    if *st >> 32 != epoch {
                        *st = epoch << 32;
                    }
                    let (key, all) = (h & KEY_BITS, h >> 16 & KEY_BITS);
                    let before = *st;
                    *st |= key | if outside { key << OUTSIDE } else { 0 };
                    if before & all != all && *st & all == all {
                        candidates.push(b as u32);
                    }
                };
                // (Hashing is most of a lookup: skip it when there is nothing to find.)
                if !index.exact.is_empty()
                    && let Some(list) = index.exact.get(s)
                {
                    list.iter().for_each(|&h| hit(h));
                }
                for (prefix, list) in &index.prefixes {
                    if s.starts_with(&**prefix) {
                        list.iter().for_each(|&h| hit(h));
                    }
                }
            };
            if index.at.top_level {
                // Most events have a plain string there (`source`): take it without the
                // general walk. The same values as `EventPath::visit`.
                root.each_child(&index.at.path, &mut |child| {
                    match child.view() {
                        View::Leaf(v) => found(v, true),
                        _ => {
                            leaves(child, &mut Membership::default(), &mut |v, m| {
                                found(v, m.is_empty());
                                false
                            });
                        }
                    }
                    false
                });
            } else {
                lookup(
                    root,
                    &index.at.path,
                    &mut Membership::default(),
                    &mut |v, m| {
                        found(v, m.is_empty());
                        false
                    },
                );
            }
        }
    }
}

/// Which fields of a branch to index it by (positions in `rule.fields`). A key accepts only
/// event strings equal to or starting with listed values. The best is taken first (exact
/// values before prefixes, then fewer values). An indexed path costs every event a lookup,
/// which is cheap at the top level and a walk through the event for a path with dots: so
/// a branch is keyed by up to `MAX_KEYS` top-level fields, or else by its best deeper one
/// (without which it would be matched against every event, walking that path anyway).
pub(super) fn choose_keys(rule: &Rule) -> Vec<usize> {
    let mut keys: Vec<((bool, bool, usize), usize)> = rule
        .fields
        .iter()
        .enumerate()
        .filter_map(|(i, f)| key_cost(f).map(|c| (c, i)))
        .collect();
    keys.sort_unstable();
    let deep = keys.first().is_some_and(|((dotted, ..), _)| *dotted);
    keys.retain(|((dotted, ..), _)| *dotted == deep);
    keys.truncate(if deep { 1 } else { MAX_KEYS });
    keys.into_iter().map(|(_, i)| i).collect()
}

/// Cost of a field as a key (has dots, has prefixes, how many values), or `None` if it
/// accepts more than listed strings and their extensions: an exact string that is an IP
/// address also matches other spellings of it, and every other operator (including
/// `anything-but` and `exists`) accepts values no list of strings names.
fn key_cost(field: &Field) -> Option<(bool, bool, usize)> {
    if field.absence {
        return None;
    }
    let mut prefixes = false;
    for m in &field.matchers {
        match m {
            Matcher::Str { ip: None, .. } => {}
            Matcher::Prefix(_) => prefixes = true,
            _ => return None,
        }
    }
    Some((field.path.contains('.'), prefixes, field.matchers.len()))
}

/// A fast hash for short strings (SipHash dominated lookups). A keyed hash is not needed:
/// the tables hold only rule values, and event values are looked up, never inserted, so
/// events cannot crowd a table.
#[derive(Debug, Clone, Copy, Default)]
struct FoldHasher(u64);

type BuildFold = BuildHasherDefault<FoldHasher>;

const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Multiplies and folds the 128-bit product, which mixes every input bit into the low bits
/// the table indexes by.
#[inline]
fn fold(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

impl Hasher for FoldHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // 16 bytes per multiply, with fixed-size loads overlapping at the end rather than
        // a copied, padded tail (the copy stalled); the length tells overlaps apart.
        let len = bytes.len();
        let (mut a, mut b) = (self.0 ^ len as u64, MUL);
        if len > 16 {
            let mut i = 0;
            while i + 16 < len {
                let h = fold(a ^ read8(bytes, i), b ^ read8(bytes, i + 8));
                (a, b) = (h, h ^ MUL);
                i += 16;
            }
            a ^= read8(bytes, len - 16);
            b ^= read8(bytes, len - 8);
        } else if len >= 8 {
            a ^= read8(bytes, 0);
            b ^= read8(bytes, len - 8);
        } else if len >= 4 {
            a ^= read4(bytes, 0);
            b ^= read4(bytes, len - 4);
        } else if len > 0 {
            a ^= u64::from(bytes[0]) | u64::from(bytes[len / 2]) << 8;
            b ^= u64::from(bytes[len - 1]);
        }
        self.0 = fold(a, b);
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.0 = fold(self.0 ^ u64::from(i), MUL);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

#[inline]
fn read8(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(w)
}

#[inline]
fn read4(bytes: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&bytes[at..at + 4]);
    u64::from(u32::from_le_bytes(w))
}
