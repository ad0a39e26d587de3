//! Leaf matchers: one per value in a pattern array. Everything that can be precomputed
//! (lowercased text, parsed CIDRs, numeric bounds, wildcard segments) is, so that matching
//! an event value never allocates.

use std::net::IpAddr;

use super::json::{JNum, pattern_number};

/// A scalar taken from an event.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Str(&'a str),
    /// `text` is the number as written when known (raw JSON events).
    Num {
        f: f64,
        text: Option<&'a str>,
    },
}

#[derive(Debug, Clone)]
pub(crate) enum Matcher {
    Str {
        s: Box<str>,
        ip: Option<IpAddr>,
    },
    Num {
        f: Option<f64>,
        text: Box<str>,
    },
    Bool(bool),
    Null,
    Prefix(Box<str>),
    PrefixIc(Box<str>),
    Suffix(Box<str>),
    SuffixIc(Box<str>),
    EqualsIc(Box<str>),
    Wildcard(Wildcard),
    Exists,
    /// `{"exists": false}`: satisfied by the absence of the field, never by a value.
    Absent,
    Cidr(Cidr),
    Numeric(NumRange),
    NotStrs(Box<[Box<str>]>),
    NotNums(Box<[f64]>),
    NotPrefixes(Box<[Box<str>]>),
    NotSuffixes(Box<[Box<str>]>),
    NotEqualsIc(Box<[Box<str>]>),
    NotWildcards(Box<[Wildcard]>),
}

pub(crate) fn lower(s: &str) -> Box<str> {
    s.to_lowercase().into_boxed_str()
}

impl Matcher {
    pub(crate) fn exact_str(s: &str) -> Matcher {
        // AWS turns a plain string that is an IP address into an address match, so
        // "2001:db8::1" also matches "2001:0db8:0:0:0:0:0:1".
        Matcher::Str {
            s: s.into(),
            ip: s.parse::<IpAddr>().ok(),
        }
    }

    pub(crate) fn exact_num(n: &JNum) -> Matcher {
        // Like AWS: compare numerically when the number fits a double, and by its text
        // otherwise (e.g. a 40-digit id still matches itself).
        Matcher::Num {
            f: pattern_number(n).ok(),
            text: n.text.clone(),
        }
    }

    /// Does this event value satisfy the matcher? (`Absent` never does.)
    #[inline]
    pub(crate) fn test(&self, v: Scalar<'_>) -> bool {
        use Scalar as S;
        match self {
            Matcher::Str { s, ip } => match v {
                S::Str(e) => **s == *e || ip.is_some_and(|p| e.parse::<IpAddr>() == Ok(p)),
                _ => false,
            },
            Matcher::Num { f, text } => match v {
                S::Num { f: ef, text: et } => {
                    f.is_some_and(|f| f == ef) || et.is_some_and(|t| t == &**text)
                }
                _ => false,
            },
            Matcher::Bool(b) => matches!(v, S::Bool(e) if e == *b),
            Matcher::Null => matches!(v, S::Null),
            Matcher::Prefix(p) => matches!(v, S::Str(e) if e.starts_with(&**p)),
            Matcher::Suffix(p) => matches!(v, S::Str(e) if e.ends_with(&**p)),
            Matcher::PrefixIc(p) => matches!(v, S::Str(e) if prefix_ic(p, e)),
            Matcher::SuffixIc(p) => matches!(v, S::Str(e) if suffix_ic(p, e)),
            Matcher::EqualsIc(p) => matches!(v, S::Str(e) if equals_ic(p, e)),
            Matcher::Wildcard(w) => matches!(v, S::Str(e) if w.matches(e)),
            Matcher::Exists => true,
            Matcher::Absent => false,
            Matcher::Cidr(c) => matches!(v, S::Str(e) if c.contains_str(e)),
            Matcher::Numeric(r) => matches!(v, S::Num { f, .. } if r.contains(f)),
            // anything-but matches every value (null, booleans, other types) except the listed ones.
            Matcher::NotStrs(list) => !matches!(v, S::Str(e) if list.iter().any(|x| **x == *e)),
            Matcher::NotNums(list) => !matches!(v, S::Num { f, .. } if list.contains(&f)),
            Matcher::NotPrefixes(list) => {
                !matches!(v, S::Str(e) if list.iter().any(|p| e.starts_with(&**p)))
            }
            Matcher::NotSuffixes(list) => {
                !matches!(v, S::Str(e) if list.iter().any(|p| e.ends_with(&**p)))
            }
            Matcher::NotEqualsIc(list) => {
                !matches!(v, S::Str(e) if list.iter().any(|p| equals_ic(p, e)))
            }
            Matcher::NotWildcards(list) => {
                !matches!(v, S::Str(e) if list.iter().any(|w| w.matches(e)))
            }
        }
    }
}

/// `lower_pat` is already lowercased; compares without allocating.
fn equals_ic(lower_pat: &str, e: &str) -> bool {
    if lower_pat.is_ascii() && e.is_ascii() {
        return lower_pat.eq_ignore_ascii_case(e);
    }
    lower_pat.chars().eq(e.chars().flat_map(char::to_lowercase))
}

fn prefix_ic(lower_pat: &str, e: &str) -> bool {
    if lower_pat.is_ascii() && e.is_ascii() {
        return e.len() >= lower_pat.len()
            && e.as_bytes()[..lower_pat.len()].eq_ignore_ascii_case(lower_pat.as_bytes());
    }
    let mut it = e.chars().flat_map(char::to_lowercase);
    lower_pat.chars().all(|p| it.next() == Some(p))
}

fn suffix_ic(lower_pat: &str, e: &str) -> bool {
    if lower_pat.is_ascii() && e.is_ascii() {
        return e.len() >= lower_pat.len()
            && e.as_bytes()[e.len() - lower_pat.len()..]
                .eq_ignore_ascii_case(lower_pat.as_bytes());
    }
    let mut it = e.chars().rev().flat_map(|c| c.to_lowercase().rev());
    lower_pat.chars().rev().all(|p| it.next() == Some(p))
}

/// Numeric range with open/closed ends; `=` is a closed single-point range.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumRange {
    pub lo: f64,
    pub lo_open: bool,
    pub hi: f64,
    pub hi_open: bool,
}

impl NumRange {
    pub(crate) fn all() -> NumRange {
        NumRange {
            lo: f64::NEG_INFINITY,
            lo_open: false,
            hi: f64::INFINITY,
            hi_open: false,
        }
    }

    #[inline]
    pub(crate) fn contains(&self, f: f64) -> bool {
        // NaN/infinite event values (from out-of-range text) never match.
        f.is_finite()
            && (if self.lo_open {
                f > self.lo
            } else {
                f >= self.lo
            })
            && (if self.hi_open {
                f < self.hi
            } else {
                f <= self.hi
            })
    }
}

/// A wildcard pattern split at its unescaped `*`s.
#[derive(Debug, Clone)]
pub(crate) struct Wildcard {
    /// Literal pieces between stars (escapes resolved).
    parts: Box<[Box<str>]>,
    starts_with_star: bool,
    ends_with_star: bool,
}

/// AWS rejects wildcard patterns whose matching automaton would be too big. Its exact
/// scoring is unpublished; AWS accepts the corpus's patterns up to 2 stars and rejects
/// `*:*:*:*:*:event-bus/*`. We score stars plus repeated literal pieces and cut above 7.
const MAX_WILDCARD_COMPLEXITY: usize = 7;

impl Wildcard {
    pub(crate) fn parse(s: &str) -> Result<Wildcard, String> {
        let mut parts: Vec<Box<str>> = Vec::new();
        let mut cur = String::new();
        let mut stars = 0usize;
        let mut starts_with_star = false;
        let mut prev_star = false;
        let mut chars = s.chars().enumerate().peekable();
        while let Some((pos, c)) = chars.next() {
            match c {
                '*' => {
                    if prev_star {
                        return Err(format!("Consecutive wildcard characters at pos {pos}"));
                    }
                    if pos == 0 {
                        starts_with_star = true;
                    } else {
                        parts.push(std::mem::take(&mut cur).into_boxed_str());
                    }
                    stars += 1;
                    prev_star = true;
                    continue;
                }
                '\\' => match chars.next() {
                    Some((_, e @ ('*' | '\\'))) => cur.push(e),
                    _ => return Err(format!("Invalid escape character at pos {pos}")),
                },
                other => cur.push(other),
            }
            prev_star = false;
        }
        let ends_with_star = prev_star;
        if !ends_with_star || stars == 0 {
            parts.push(cur.into_boxed_str());
        }
        let mut repeats = 0;
        for (i, p) in parts.iter().enumerate() {
            if !p.is_empty() && parts[..i].contains(p) {
                repeats += 1;
            }
        }
        if stars + repeats > MAX_WILDCARD_COMPLEXITY {
            return Err("Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character".into());
        }
        Ok(Wildcard {
            parts: parts.into_boxed_slice(),
            starts_with_star,
            ends_with_star,
        })
    }

    pub(crate) fn matches(&self, e: &str) -> bool {
        let parts = &self.parts;
        if parts.is_empty() {
            // Pattern was only "*".
            return true;
        }
        if !self.starts_with_star && parts.len() == 1 && !self.ends_with_star {
            return **parts.first().map_or(&Box::<str>::default(), |p| p) == *e;
        }
        let mut rest = e;
        let mut lo = 0;
        let mut hi = parts.len();
        if !self.starts_with_star {
            let first = &parts[0];
            let Some(r) = rest.strip_prefix(&**first) else {
                return false;
            };
            rest = r;
            lo = 1;
        }
        if !self.ends_with_star {
            let last = &parts[hi - 1];
            if hi - 1 < lo {
                return rest.is_empty();
            }
            let Some(r) = rest.strip_suffix(&**last) else {
                return false;
            };
            rest = r;
            hi -= 1;
        }
        // Middle pieces: leftmost occurrence is always the best choice with `*` only.
        for p in &parts[lo..hi] {
            match rest.find(&**p) {
                Some(i) => rest = &rest[i + p.len()..],
                None => return false,
            }
        }
        true
    }
}

/// A parsed CIDR block (IPv4 stored as IPv4-sized integers).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cidr {
    v6: bool,
    net: u128,
    mask: u128,
}

impl Cidr {
    pub(crate) fn parse(s: &str) -> Result<Cidr, String> {
        let mut it = s.split('/');
        let (Some(ip), Some(bits), None) = (it.next(), it.next(), it.next()) else {
            return Err("Malformed CIDR, one '/' required".into());
        };
        let bits: u32 = match bits.parse() {
            Ok(b) if !bits.starts_with('+') => b,
            _ => return Err("Malformed CIDR, mask bits must be an integer".into()),
        };
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("Nonstandard IP address: {ip}"))?;
        let (v6, width, raw) = match addr {
            IpAddr::V4(a) => (false, 32, u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, 128, u128::from(a)),
        };
        if bits > width {
            return Err(format!(
                "Malformed CIDR, mask bits must be between 0 and {width}"
            ));
        }
        let mask = prefix_mask(bits, width);
        Ok(Cidr {
            v6,
            net: raw & mask,
            mask,
        })
    }

    fn contains_str(&self, e: &str) -> bool {
        match e.parse::<IpAddr>() {
            Ok(IpAddr::V4(a)) if !self.v6 => u128::from(u32::from(a)) & self.mask == self.net,
            Ok(IpAddr::V6(a)) if self.v6 => u128::from(a) & self.mask == self.net,
            _ => false,
        }
    }
}

fn prefix_mask(bits: u32, width: u32) -> u128 {
    let all: u128 = if width == 32 {
        u128::from(u32::MAX)
    } else {
        u128::MAX
    };
    if bits == 0 {
        0
    } else {
        (all << (width - bits)) & all
    }
}
