//! Runs the shared EventBridge pattern corpus (see its README) against the engine.
//! A JSON *string* pattern or event in the corpus is raw text to be parsed by us.

use std::collections::BTreeMap;

use eventmart_local::{Pattern, PatternError};
use serde_json::Value;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/eventbridge-patterns/cases.jsonl"
);

/// The raw text of a top-level member of a one-line JSON object. Patterns are compiled from
/// their text because key order matters (a later key wins for the same path) and
/// `serde_json::Map` sorts keys.
fn raw_member<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let b = line.as_bytes();
    let (mut depth, mut i, mut in_str) = (0i32, 0usize, false);
    let mut key_start = None;
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_str = false;
                if depth == 1
                    && let Some(ks) = key_start.take()
                {
                    let k = &line[ks..i];
                    let rest = line[i + 1..].trim_start();
                    if k == key && rest.starts_with(':') {
                        let vstart = line.len() - rest.len() + 1;
                        return value_end(line, vstart).map(|e| line[vstart..e].trim());
                    }
                }
            }
        } else if c == b'"' {
            in_str = true;
            if depth == 1 {
                key_start = Some(i + 1);
            }
        } else if c == b'{' || c == b'[' {
            depth += 1;
        } else if c == b'}' || c == b']' {
            depth -= 1;
        } else if c == b':' && depth == 1 {
            key_start = None;
        }
        i += 1;
    }
    None
}

/// End of the JSON value starting at `start` (at depth 1 of the enclosing object).
fn value_end(line: &str, start: usize) -> Option<usize> {
    let b = line.as_bytes();
    let (mut depth, mut i, mut in_str) = (0i32, start, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            if c == b'\\' {
                i += 1;
            } else if c == b'"' {
                in_str = false;
            }
        } else if c == b'"' {
            in_str = true;
        } else if c == b'{' || c == b'[' {
            depth += 1;
        } else if c == b'}' || c == b']' {
            if depth == 0 {
                return Some(i);
            }
            depth -= 1;
        } else if c == b',' && depth == 0 {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn outcome(case: &Value, line: &str) -> String {
    let raw = raw_member(line, "pattern").expect("pattern member");
    let pattern: Result<Pattern, PatternError> = match &case["pattern"] {
        // A JSON string is itself raw pattern text (possibly invalid JSON).
        Value::String(text) => Pattern::parse(text),
        _ => Pattern::parse(raw),
    };
    let Ok(pattern) = pattern else {
        return "invalid_pattern".into();
    };
    let matched = match &case["event"] {
        Value::String(text) => match pattern.matches_json(text) {
            Ok(m) => m,
            Err(e) => return format!("bad event: {e}"),
        },
        v => pattern.matches(v),
    };
    if matched { "match" } else { "no_match" }.into()
}

#[test]
fn conformance_corpus() {
    let text = std::fs::read_to_string(CASES)
        .unwrap_or_else(|e| panic!("cannot read corpus at {CASES}: {e}"));
    let mut per_tag: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut per_basis: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut aws_failures = Vec::new();
    let (mut total, mut passed, mut aws_total) = (0usize, 0usize, 0usize);
    let mut value_disagreements = 0usize;

    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("corpus line is JSON");
        let name = case["name"].as_str().unwrap_or("?").to_string();
        let expected = case["expected"].as_str().unwrap_or("?");
        let basis = case["expected_basis"].as_str().unwrap_or("?").to_string();
        let got = outcome(&case, line);
        if !case["pattern"].is_string() {
            // from_value sees sorted keys; count where that changes validity.
            let via_value = Pattern::from_value(&case["pattern"]).is_ok();
            if via_value != (got != "invalid_pattern") {
                value_disagreements += 1;
            }
        }
        let ok = got == expected;
        total += 1;
        passed += usize::from(ok);
        let aws = basis == "aws-validated" || basis == "aws-snapshot";
        aws_total += usize::from(aws);
        let bump = |m: &mut BTreeMap<String, (usize, usize)>, k: String| {
            let e = m.entry(k).or_default();
            e.0 += usize::from(ok);
            e.1 += 1;
        };
        bump(&mut per_basis, basis);
        for tag in case["operators"].as_array().into_iter().flatten() {
            bump(&mut per_tag, tag.as_str().unwrap_or("?").to_string());
        }
        if !ok {
            let line = format!("{name}: expected {expected}, got {got}");
            if aws {
                aws_failures.push(line.clone());
            }
            failures.push(line);
        }
    }

    println!(
        "\n{:<36} {:>6} {:>6}",
        "operator / feature", "pass", "total"
    );
    for (k, (p, t)) in &per_tag {
        println!("{k:<36} {p:>6} {t:>6}");
    }
    println!("\n{:<36} {:>6} {:>6}", "expected_basis", "pass", "total");
    for (k, (p, t)) in &per_basis {
        println!("{k:<36} {p:>6} {t:>6}");
    }
    println!("\nall cases: {passed}/{total}");
    println!("from_value validity disagreements with parse: {value_disagreements}");
    for f in &failures {
        println!("FAIL {f}");
    }

    assert_eq!(aws_total, 173, "corpus should hold 173 AWS-verified cases");
    assert!(
        aws_failures.is_empty(),
        "AWS-verified cases failing:\n{}",
        aws_failures.join("\n")
    );
    assert!(
        passed * 100 >= total * 99,
        "only {passed}/{total} pass; failing:\n{}",
        failures.join("\n")
    );
}
