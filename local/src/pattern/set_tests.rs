//! [`RuleSet`] must give exactly what matching every pattern one by one gives.

use serde_json::{Value, json};

use super::*;

fn naive(patterns: &[Pattern], event: &Value) -> Vec<usize> {
    (0..patterns.len())
        .filter(|&i| patterns[i].matches(event))
        .collect()
}

fn naive_raw(patterns: &[Pattern], event: &Event) -> Vec<usize> {
    (0..patterns.len())
        .filter(|&i| patterns[i].matches_event(event))
        .collect()
}

/// Compares the set with the naive loop on every event, by value and by raw text.
fn check(patterns: &[Pattern], events: &[Value]) -> usize {
    let set = RuleSet::new(patterns.iter().cloned());
    let mut out = Vec::new();
    let mut matched = 0;
    for ev in events {
        let want = naive(patterns, ev);
        set.matches(ev, &mut out);
        assert_eq!(out, want, "event {ev}");
        if let Ok(raw) = Event::parse(&ev.to_string()) {
            set.matches_event(&raw, &mut out);
            assert_eq!(out, naive_raw(patterns, &raw), "raw event {ev}");
        }
        matched += want.len();
    }
    matched
}

fn pats(texts: &[&str]) -> Vec<Pattern> {
    texts
        .iter()
        .map(|t| Pattern::parse(t).unwrap_or_else(|e| panic!("{t}: {e}")))
        .collect()
}

#[test]
fn index_agrees_with_naive_on_shapes() {
    let patterns = pats(&[
        r#"{"source": ["eventmart.orders"], "detail-type": ["OrderPlaced", "OrderCanceled"]}"#,
        r#"{"source": ["eventmart.orders"]}"#,
        r#"{"source": [{"prefix": "eventmart."}]}"#,
        r#"{"source": [{"prefix": "eventmart.o"}, "other"]}"#,
        r#"{"detail-type": ["OrderShipped"]}"#,
        r#"{"detail": {"data": {"total": {"amountMinor": [{"numeric": [">", 100]}]}}}}"#,
        r#"{"$or": [{"source": ["eventmart.orders"], "detail-type": ["OrderPlaced"]},
                    {"source": ["eventmart.memberships"]}]}"#,
        // One branch without a source constraint: the whole pattern is a fallback.
        r#"{"$or": [{"source": ["eventmart.orders"]}, {"detail": {"plan": ["annual"]}}]}"#,
        r#"{"source": [{"anything-but": "eventmart.orders"}]}"#,
        r#"{"source": [{"exists": true}], "detail-type": ["OrderPlaced"]}"#,
        r#"{"source": [{"exists": false}]}"#,
        r#"{"source": ["10.0.0.1"]}"#,
        r#"{"source": [{"equals-ignore-case": "EVENTMART.ORDERS"}]}"#,
        r#"{"source": ["eventmart.orders"], "detail-type": [{"prefix": "Order"}]}"#,
        r#"{"source.x": ["y"]}"#,
        r#"{"detail-type": ["OrderPlaced"], "source": [{"suffix": ".orders"}]}"#,
        r#"{"source": ["eventmart.orders"], "detail-type": [{"exists": false}]}"#,
    ]);
    let events = vec![
        json!({"source": "eventmart.orders", "detail-type": "OrderPlaced", "detail": {"data": {"total": {"amountMinor": 500}}}}),
        json!({"source": "eventmart.orders", "detail-type": "OrderShipped"}),
        json!({"source": "eventmart.orders"}),
        json!({"source": "eventmart.memberships", "detail-type": "MembershipSignedUp", "detail": {"plan": "annual"}}),
        json!({"source": "other", "detail-type": "OrderPlaced"}),
        json!({"source": "10.0.0.01", "detail-type": "x"}),
        json!({"source": "10.0.0.1"}),
        json!({"source": "EventMart.Orders"}),
        json!({"detail-type": "OrderShipped"}),
        json!({"detail-type": ["OrderShipped", "OrderPlaced"], "source": "eventmart.orders"}),
        json!({"source": ["eventmart.orders", "x"], "detail-type": "OrderPlaced"}),
        json!({"source": ["eventmart.memberships"]}),
        json!({"source": 3, "detail-type": "OrderPlaced"}),
        json!({"source": null}),
        json!({"source": {"x": "y"}}),
        json!({"source": [{"x": "y"}]}),
        json!({}),
        json!([{"source": "eventmart.orders"}]),
        json!("eventmart.orders"),
    ];
    assert!(check(&patterns, &events) > 10);

    // Duplicate keys in raw text: both values count, so the index must not pick one.
    let set = RuleSet::new(patterns.iter().cloned());
    let mut out = Vec::new();
    for text in [
        r#"{"source": "x", "source": "eventmart.orders", "detail-type": "OrderPlaced"}"#,
        r#"{"source": "eventmart.orders", "detail-type": "A", "detail-type": "OrderPlaced"}"#,
    ] {
        let raw = Event::parse(text).unwrap();
        set.matches_event(&raw, &mut out);
        assert_eq!(out, naive_raw(&patterns, &raw), "{text}");
        assert!(out.contains(&0), "{text}");
    }
}

#[test]
fn empty_and_single_sets() {
    let set = RuleSet::default();
    assert!(set.is_empty());
    assert!(set.matching(&json!({"source": "a"})).is_empty());
    let set = RuleSet::new(pats(&[r#"{"source": ["a"]}"#]));
    assert_eq!(set.len(), 1);
    assert_eq!(set.matching(&json!({"source": "a"})), vec![0]);
    assert!(set.matching(&json!({"source": "b"})).is_empty());
}

/// Deterministic generator so the property test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) as usize
    }
}

/// Strings a pattern offers for `source`/`detail-type` (exact values, prefixes and what
/// they start), so that generated events hit the index's buckets.
fn offered(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                if k == "source" || k == "detail-type" {
                    for s in x.as_array().into_iter().flatten() {
                        match s {
                            Value::String(s) => out.push(s.clone()),
                            Value::Object(e) => {
                                if let Some(Value::String(p)) = e.get("prefix") {
                                    out.push(p.clone());
                                    out.push(format!("{p}x"));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                offered(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| offered(x, out)),
        _ => {}
    }
}

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/eventbridge-patterns/cases.jsonl"
);

/// Every valid pattern of the conformance corpus in one set, against every corpus event
/// and variants of them with `source`/`detail-type` taken from the patterns, missing, or
/// of other types.
#[test]
fn index_agrees_with_naive_on_corpus() {
    let text = std::fs::read_to_string(CORPUS)
        .unwrap_or_else(|e| panic!("cannot read corpus at {CORPUS}: {e}"));
    let mut patterns = Vec::new();
    let mut events = Vec::new();
    let mut raw_events = Vec::new();
    let mut values = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("corpus line is JSON");
        let pattern = match &case["pattern"] {
            Value::String(t) => Pattern::parse(t),
            v => Pattern::from_value(v),
        };
        if let Ok(p) = pattern {
            patterns.push(p);
            offered(&case["pattern"], &mut values);
        }
        match &case["event"] {
            Value::String(t) => raw_events.extend(Event::parse(t).ok()),
            v => {
                for key in ["source", "detail-type"] {
                    if let Some(s) = v.get(key).and_then(Value::as_str) {
                        values.push(s.to_owned());
                    }
                }
                events.push(v.clone());
            }
        }
    }
    values.sort();
    values.dedup();
    assert!(
        patterns.len() > 500 && values.len() > 20,
        "{} patterns, {} values",
        patterns.len(),
        values.len()
    );

    let mut rng = Rng(7);
    let mut generated = Vec::new();
    for ev in events.iter().filter(|e| e.is_object()) {
        for _ in 0..2 {
            let mut e = ev.clone();
            for key in ["source", "detail-type"] {
                let choice = rng.next() % 8;
                let pick = values[rng.next() % values.len()].clone();
                let obj = e.as_object_mut().expect("object");
                match choice {
                    0..=3 => {
                        obj.insert(key.into(), Value::String(pick));
                    }
                    4 => {
                        obj.remove(key);
                    }
                    5 => {
                        obj.insert(key.into(), json!([pick, "zz"]));
                    }
                    6 => {
                        obj.insert(key.into(), json!(12));
                    }
                    _ => {}
                }
            }
            generated.push(e);
        }
    }
    events.extend(generated);
    let matched = check(&patterns, &events);
    assert!(
        matched > 1000,
        "only {matched} matches: the test exercises too little"
    );

    let set = RuleSet::new(patterns.iter().cloned());
    let mut out = Vec::new();
    for raw in &raw_events {
        set.matches_event(raw, &mut out);
        assert_eq!(out, naive_raw(&patterns, raw));
    }
}
