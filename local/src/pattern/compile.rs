//! Turns a parsed pattern into `Rule`s, rejecting what AWS (event-ruler) rejects, with its
//! wording. `$or` is expanded into alternative rules (disjunctive form) as event-ruler does,
//! so each rule is a flat AND of dotted paths.

use super::json::{JVal, pattern_number};
use super::matcher::{Cidr, Matcher, NumRange, Wildcard, lower};
use super::{Field, Rule};

/// Cap on `$or` expansion so a hostile pattern cannot blow up memory.
const MAX_RULES: usize = 1024;

type Err = String;

/// One alternative while compiling: path -> matchers, later duplicates replace earlier ones.
type Draft = Vec<(String, Vec<Matcher>)>;

pub(crate) fn compile(v: &JVal) -> Result<Vec<Rule>, Err> {
    let JVal::Obj(entries) = v else {
        return Err("Filter is not an object".into());
    };
    let mut drafts: Vec<Draft> = Vec::new();
    object(entries, "", &mut drafts, false)?;
    Ok(drafts.into_iter().map(finish).collect())
}

fn finish(d: Draft) -> Rule {
    let mut fields: Vec<Field> = d
        .into_iter()
        .map(|(path, matchers)| {
            let absence = matchers.iter().any(|m| matches!(m, Matcher::Absent));
            Field {
                path: path.into_boxed_str(),
                matchers: matchers.into_boxed_slice(),
                absence,
            }
        })
        .collect();
    // Fields that can be satisfied by absence are checked last: whether a value is "absent"
    // depends on which array elements the other fields were matched in.
    fields.sort_by_key(|f| f.absence);
    Rule {
        fields: fields.into_boxed_slice(),
    }
}

const RESERVED_IN_OR: [&str; 8] = [
    "anything-but",
    "exists",
    "prefix",
    "suffix",
    "numeric",
    "cidr",
    "equals-ignore-case",
    "wildcard",
];

fn object(
    entries: &[(String, JVal)],
    prefix: &str,
    drafts: &mut Vec<Draft>,
    in_or: bool,
) -> Result<(), Err> {
    if entries.is_empty() {
        return Err("Empty objects are not allowed".into());
    }
    for (k, v) in entries {
        if k == "$or" {
            or(v, prefix, drafts)?;
            continue;
        }
        if in_or && RESERVED_IN_OR.contains(&k.as_str()) {
            return Err(format!(
                "{k} is Ruler reserved fieldName which cannot be used inside $or."
            ));
        }
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            JVal::Obj(o) => object(o, &path, drafts, in_or)?,
            JVal::Arr(a) => {
                let ms = values(a)?;
                if drafts.is_empty() {
                    drafts.push(Vec::new());
                }
                for d in drafts.iter_mut() {
                    match d.iter_mut().find(|(p, _)| *p == path) {
                        Some(slot) => slot.1 = ms.clone(),
                        None => d.push((path.clone(), ms.clone())),
                    }
                }
            }
            _ => return Err(format!("\"{k}\" must be an object or an array")),
        }
    }
    Ok(())
}

fn or(v: &JVal, prefix: &str, drafts: &mut Vec<Draft>) -> Result<(), Err> {
    let JVal::Arr(alts) = v else {
        return Err("It must be an Array followed with $or.".into());
    };
    let current = std::mem::take(drafts);
    for alt in alts {
        let JVal::Obj(o) = alt else {
            return Err("Only JSON object is allowed in array of $or relationship.".into());
        };
        let mut branch = current.clone();
        if branch.is_empty() {
            branch.push(Vec::new());
        }
        object(o, prefix, &mut branch, true)?;
        drafts.extend(branch);
        if drafts.len() > MAX_RULES {
            return Err("Rule is too complex - too many $or combinations".into());
        }
    }
    if alts.len() < 2 {
        return Err("There must have at least 2 Objects in $or relationship.".into());
    }
    Ok(())
}

fn values(a: &[JVal]) -> Result<Vec<Matcher>, Err> {
    if a.is_empty() {
        return Err("Empty arrays are not allowed".into());
    }
    let mut out = Vec::with_capacity(a.len());
    for v in a {
        out.push(match v {
            JVal::Obj(o) => expression(o)?,
            JVal::Str(s) => Matcher::exact_str(s),
            JVal::Num(n) => Matcher::exact_num(n),
            JVal::Bool(b) => Matcher::Bool(*b),
            JVal::Null => Matcher::Null,
            JVal::Arr(_) => {
                return Err("Match value must be String, number, true, false, or null".into());
            }
        });
    }
    Ok(out)
}

const ONE_KEY: &str = "Only one key allowed in match expression";
const TOO_MANY: &str = "Too many elements in numeric expression";

fn expression(o: &[(String, JVal)]) -> Result<Matcher, Err> {
    let Some((op, arg)) = o.first() else {
        return Err("Match expression name not found".into());
    };
    let single = |m: Matcher, extra_msg: &str| -> Result<Matcher, Err> {
        if o.len() > 1 {
            Err(extra_msg.to_string())
        } else {
            Ok(m)
        }
    };
    match op.as_str() {
        "prefix" | "suffix" => single(affix(op == "prefix", arg)?, ONE_KEY),
        "equals-ignore-case" => {
            let JVal::Str(s) = arg else {
                return Err("equals-ignore-case match pattern must be a string".into());
            };
            single(Matcher::EqualsIc(lower(s)), ONE_KEY)
        }
        "wildcard" => {
            let JVal::Str(s) = arg else {
                return Err("wildcard match pattern must be a string".into());
            };
            single(Matcher::Wildcard(Wildcard::parse(s)?), ONE_KEY)
        }
        "exists" => {
            let m = match arg {
                JVal::Bool(true) => Matcher::Exists,
                JVal::Bool(false) => Matcher::Absent,
                _ => return Err("exists match pattern must be either true or false.".into()),
            };
            single(m, ONE_KEY)
        }
        "cidr" => {
            let JVal::Str(s) = arg else {
                // Sic: AWS reports the cidr operand error with "prefix".
                return Err("prefix match pattern must be a string".into());
            };
            single(Matcher::Cidr(Cidr::parse(s)?), ONE_KEY)
        }
        "numeric" => {
            let JVal::Arr(terms) = arg else {
                return Err("Value of numeric must be an array.".into());
            };
            single(Matcher::Numeric(numeric(terms)?), TOO_MANY)
        }
        "anything-but" => single(anything_but(arg)?, TOO_MANY),
        other => Err(format!("Unrecognized match type {other}")),
    }
}

/// `prefix` or `suffix`: a string, or `{"equals-ignore-case": string}`.
fn affix(is_prefix: bool, arg: &JVal) -> Result<Matcher, Err> {
    let op = if is_prefix { "prefix" } else { "suffix" };
    Ok(match arg {
        JVal::Str(s) => {
            if is_prefix {
                Matcher::Prefix(s.as_str().into())
            } else {
                Matcher::Suffix(s.as_str().into())
            }
        }
        JVal::Obj(inner) => {
            let Some((iop, iarg)) = inner.first() else {
                return Err(format!(
                    "{} expression name not found",
                    if is_prefix { "Prefix" } else { "Suffix" }
                ));
            };
            if iop != "equals-ignore-case" {
                return Err(format!("Unsupported {op} pattern: {iop}"));
            }
            let JVal::Str(s) = iarg else {
                return Err("equals-ignore-case match pattern must be a string".into());
            };
            if inner.len() > 1 {
                return Err(ONE_KEY.into());
            }
            if is_prefix {
                Matcher::PrefixIc(lower(s))
            } else {
                Matcher::SuffixIc(lower(s))
            }
        }
        _ => return Err(format!("{op} match pattern must be a string")),
    })
}

fn numeric(terms: &[JVal]) -> Result<NumRange, Err> {
    let op_at = |i: usize| -> Option<&str> {
        match terms.get(i) {
            Some(JVal::Str(s)) => Some(s.as_str()),
            _ => None,
        }
    };
    let num_at = |i: usize, what: &str| -> Result<f64, Err> {
        match terms.get(i) {
            Some(JVal::Num(n)) => pattern_number(n),
            _ => Err(format!("Value of {what} must be numeric")),
        }
    };
    let Some(op) = op_at(0) else {
        let shown = terms.first().map(show).unwrap_or_default();
        return Err(format!("Invalid member in numeric match: {shown}"));
    };
    let end = |n: usize| -> Result<(), Err> {
        if terms.len() > n {
            Err(TOO_MANY.into())
        } else {
            Ok(())
        }
    };
    let mut r = NumRange::all();
    match op {
        "=" => {
            let v = num_at(1, "equals")?;
            end(2)?;
            r.lo = v;
            r.hi = v;
            r.lo_open = false;
            r.hi_open = false;
            return Ok(r);
        }
        "<" | "<=" => {
            r.hi = num_at(1, op)?;
            r.hi_open = op == "<";
            end(2)?;
            return Ok(r);
        }
        ">" | ">=" => {
            r.lo = num_at(1, op)?;
            r.lo_open = op == ">";
        }
        other => return Err(format!("Unrecognized numeric range operator: {other}")),
    }
    if terms.len() == 2 {
        return Ok(r);
    }
    let Some(op2) = op_at(2) else {
        return Err(format!(
            "Bad value in numeric range: {}",
            terms.get(2).map(show).unwrap_or_default()
        ));
    };
    if op2 != "<" && op2 != "<=" {
        return Err(format!("Bad numeric range operator: {op2}"));
    }
    r.hi = num_at(3, op2)?;
    r.hi_open = op2 == "<";
    if terms.len() > 4 {
        return Err("Too many terms in numeric range expression".into());
    }
    if r.lo >= r.hi {
        return Err("Bottom must be less than top".into());
    }
    Ok(r)
}

fn show(v: &JVal) -> String {
    match v {
        JVal::Null => "null".into(),
        JVal::Bool(b) => b.to_string(),
        JVal::Num(n) => n.text.to_string(),
        JVal::Str(s) => s.clone(),
        JVal::Arr(_) => "[".into(),
        JVal::Obj(_) => "{".into(),
    }
}

const AB_VALUE: &str = "Value of anything-but must be an array or single string/number value.";

fn anything_but(arg: &JVal) -> Result<Matcher, Err> {
    match arg {
        JVal::Str(s) => Ok(Matcher::NotStrs(vec![s.as_str().into()].into())),
        JVal::Num(n) => Ok(Matcher::NotNums(vec![pattern_number(n)?].into())),
        JVal::Arr(items) => {
            let mut strs = Vec::new();
            let mut nums = Vec::new();
            for it in items {
                match it {
                    JVal::Str(s) => strs.push(s.as_str().into()),
                    JVal::Num(n) => nums.push(pattern_number(n)?),
                    _ => {
                        return Err(
                            "Inside anything but list, start|null|boolean is not supported.".into(),
                        );
                    }
                }
            }
            match (strs.is_empty(), nums.is_empty()) {
                (false, true) => Ok(Matcher::NotStrs(strs.into())),
                (true, false) => Ok(Matcher::NotNums(nums.into())),
                _ => Err("Inside anything but list, either all values are number or string, mixed type is not supported".into()),
            }
        }
        JVal::Obj(o) => {
            let Some((op, inner)) = o.first() else {
                return Err("Anything-But expression name not found".into());
            };
            let kind = match op.as_str() {
                "prefix" | "suffix" | "equals-ignore-case" | "wildcard" => op.as_str(),
                other => return Err(format!("Unsupported anything-but pattern: {other}")),
            };
            let non_string = || -> Err {
                match kind {
                    "equals-ignore-case" => "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.".into(),
                    "wildcard" => "wildcard match pattern must be a string".into(),
                    _ => "prefix/suffix match pattern must be a string".into(),
                }
            };
            let list: Vec<&str> = match inner {
                JVal::Str(s) => vec![s.as_str()],
                JVal::Arr(items) => {
                    let mut v = Vec::with_capacity(items.len());
                    for it in items {
                        match it {
                            JVal::Str(s) => v.push(s.as_str()),
                            _ => return Err(non_string()),
                        }
                    }
                    v
                }
                JVal::Num(_) => return Err(non_string()),
                _ => return Err(AB_VALUE.into()),
            };
            if o.len() > 1 {
                return Err(TOO_MANY.into());
            }
            if (kind == "prefix" || kind == "suffix") && list.iter().any(|s| s.is_empty()) {
                return Err("Null prefix/suffix not allowed".into());
            }
            Ok(match kind {
                "prefix" => Matcher::NotPrefixes(list.iter().map(|s| (*s).into()).collect()),
                "suffix" => Matcher::NotSuffixes(list.iter().map(|s| (*s).into()).collect()),
                "equals-ignore-case" => {
                    Matcher::NotEqualsIc(list.iter().map(|s| lower(s)).collect())
                }
                _ => Matcher::NotWildcards(
                    list.iter()
                        .map(|s| Wildcard::parse(s))
                        .collect::<Result<Vec<_>, _>>()?
                        .into(),
                ),
            })
        }
        _ => Err(AB_VALUE.into()),
    }
}
