//! [`RuleSet`] must give exactly what matching every pattern one by one gives.

use serde_json::{Value, json};

use super::set::choose_keys;
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

/// Compares the set with the naive loop on raw event texts (duplicate keys, number
/// spellings), returning how many matches there were.
fn check_raw(patterns: &[Pattern], texts: &[&str]) -> usize {
    let set = RuleSet::new(patterns.iter().cloned());
    let mut out = Vec::new();
    let mut matched = 0;
    for text in texts {
        let raw = Event::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        set.matches_event(&raw, &mut out);
        let want = naive_raw(patterns, &raw);
        assert_eq!(out, want, "{text}");
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
        // One branch keyed by content, the other by `source`.
        r#"{"$or": [{"source": ["eventmart.orders"]}, {"detail": {"plan": ["annual"]}}]}"#,
        // One branch without keys: it runs for every event, the other only on a hit.
        r#"{"$or": [{"source": ["eventmart.orders"]}, {"detail": {"plan": [{"suffix": "ual"}]}}]}"#,
        r#"{"source": [{"anything-but": "eventmart.orders"}]}"#,
        r#"{"source": [{"exists": true}], "detail-type": ["OrderPlaced"]}"#,
        r#"{"source": [{"exists": false}]}"#,
        r#"{"source": ["10.0.0.1"]}"#,
        r#"{"source": [{"equals-ignore-case": "EVENTMART.ORDERS"}]}"#,
        r#"{"source": ["eventmart.orders"], "detail-type": [{"prefix": "Order"}]}"#,
        r#"{"source.x": ["y"]}"#,
        r#"{"detail-type": ["OrderPlaced"], "source": [{"suffix": ".orders"}]}"#,
        r#"{"source": ["eventmart.orders"], "detail-type": [{"exists": false}]}"#,
        r#"{"source": ["eventmart.orders", "eventmart.orders"], "detail-type": ["OrderPlaced"]}"#,
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
        json!({"source": [["eventmart.orders"]], "detail-type": "OrderPlaced"}),
        json!({"source": 3, "detail-type": "OrderPlaced"}),
        json!({"source": null}),
        json!({"source": {"x": "y"}}),
        json!({"source": [{"x": "y"}]}),
        json!({"source.x": "y"}),
        json!({"detail": {"plan": ["monthly", "annual"]}, "source": "x"}),
        json!({}),
        json!([{"source": "eventmart.orders"}]),
        json!("eventmart.orders"),
    ];
    assert!(check(&patterns, &events) > 10);

    // Duplicate keys in raw text: both values count, so the index must not pick one.
    let matched = check_raw(
        &patterns,
        &[
            r#"{"source": "x", "source": "eventmart.orders", "detail-type": "OrderPlaced"}"#,
            r#"{"source": "eventmart.orders", "detail-type": "A", "detail-type": "OrderPlaced"}"#,
        ],
    );
    assert!(matched >= 4);
}

/// Rules keyed by content paths, and the cases a key must not decide alone: arrays of
/// values and of objects (array consistency), numbers vs strings, missing fields, nulls,
/// dotted keys, `$or`, and operators that are never keys.
#[test]
fn content_keys_agree_with_naive() {
    let patterns = pats(&[
        r#"{"detail": {"status": ["shipped", "placed"]}}"#,
        r#"{"detail": {"status": [{"prefix": "ship"}]}}"#,
        r#"{"detail": {"status": ["shipped"]}, "source": [{"anything-but": "x"}]}"#,
        r#"{"detail": {"status": [{"anything-but": "shipped"}]}}"#,
        r#"{"detail": {"status": [{"anything-but": {"prefix": "ship"}}]}}"#,
        r#"{"detail": {"count": [5]}}"#,
        r#"{"detail": {"count": ["5"]}}"#,
        r#"{"detail": {"count": ["5", 5]}}"#,
        r#"{"detail": {"items": {"sku": ["A"], "qty": [2]}}}"#,
        r#"{"detail": {"items": {"sku": [{"prefix": "A"}], "qty": [{"numeric": [">", 1]}]}}}"#,
        r#"{"detail": {"items": {"sku": ["A"], "qty": [{"exists": false}]}}}"#,
        r#"{"detail": {"items": {"sku": ["A"]}}, "source": ["a"]}"#,
        r#"{"$or": [{"detail": {"status": ["shipped"]}}, {"detail": {"count": [{"numeric": [">", 3]}]}}]}"#,
        r#"{"$or": [{"detail": {"status": ["shipped"]}}, {"source": ["a"]}]}"#,
        r#"{"detail": {"$or": [{"status": ["placed"]}, {"items": {"sku": ["B"]}}]}}"#,
        r#"{"detail": {"status": ["10.0.0.1"]}}"#,
        // An address matches its other spellings: not a key.
        r#"{"detail": {"ip": ["2001:db8::1"]}}"#,
        r#"{"detail": {"status": [{"exists": true}]}}"#,
        r#"{"detail": {"status": [{"exists": false}]}}"#,
        r#"{"detail": {"status": [null]}}"#,
        r#"{"detail": {"status": ["shipped", null]}}"#,
        r#"{"detail": {"status": ["shipped", true]}}"#,
        r#"{"detail": {"status": [{"equals-ignore-case": "SHIPPED"}]}}"#,
        r#"{"detail": {"status": [""]}}"#,
        r#"{"detail": {"status": [{"prefix": ""}]}}"#,
        r#"{"detail": {"a": {"b": ["x"]}, "c": ["y"]}}"#,
        r#"{"detail": {"a": {"b": ["x"]}, "c": [{"prefix": "y"}]}}"#,
        r#"{"source": ["a"], "detail": {"status": ["shipped"]}}"#,
        r#"{"detail-type": ["t"], "source": ["a"], "account": ["1"]}"#,
        r#"{"detail-type": ["t"], "source": ["a"], "account": [{"prefix": "1"}]}"#,
        r#"{"detail.status": ["shipped"]}"#,
        r#"{"detail": {"status": ["shipped"], "count": [{"exists": false}]}}"#,
        // A top-level key whose value can sit in the same array as another field's.
        r#"{"source": ["a"], "source.x": [1]}"#,
    ]);
    let events = vec![
        json!({"detail": {"status": "shipped"}}),
        json!({"detail": {"status": "shipping"}}),
        json!({"detail": {"status": ["placed", "x"]}}),
        json!({"detail": {"status": ["x", ["shipped"]]}}),
        json!({"detail": {"status": "SHIPPED"}}),
        json!({"detail": {"status": 5}}),
        json!({"detail": {"status": true}}),
        json!({"detail": {"count": 5}}),
        json!({"detail": {"count": 5.0}}),
        json!({"detail": {"count": "5"}}),
        json!({"detail": {"count": [5, "5"]}}),
        json!({"detail": {"count": 4}}),
        json!({"detail": {"count": 4, "status": "shipped"}}),
        json!({"detail": {"status": null}}),
        json!({"detail": {"status": ""}}),
        json!({"detail": {"status": []}}),
        json!({"detail": {"status": {"x": "shipped"}}}),
        json!({"detail": {}}),
        json!({}),
        json!({"detail": "shipped"}),
        json!({"detail": [{"status": "shipped"}, {"status": "placed"}]}),
        json!({"detail": [{"status": "shipped", "count": 5}, {"count": 4}]}),
        json!({"detail.status": "shipped"}),
        json!({"detail": {"status": "x"}, "detail.status": "shipped"}),
        json!({"detail": {"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}]}}),
        json!({"detail": {"items": [{"sku": "A", "qty": 2}]}}),
        json!({"detail": {"items": [{"sku": "A"}, {"sku": "B", "qty": 2}]}}),
        json!({"detail": {"items": [{"sku": "B"}, {"sku": "A"}]}}),
        json!({"detail": {"items": {"sku": ["A", "B"], "qty": 2}}}),
        json!({"detail": {"items": {"sku": "A"}}}),
        json!({"detail": {"items": [{"sku": ["A"]}, {"sku": "A", "qty": 2}]}, "source": "a"}),
        json!({"detail": {"items": [[{"sku": "A", "qty": 2}]]}}),
        json!({"detail": {"items.sku": "A", "items": {"qty": 2}}}),
        json!({"detail": {"status": "10.0.0.01"}}),
        json!({"detail": {"status": "10.0.0.1"}}),
        json!({"detail": {"ip": "2001:0db8:0:0:0:0:0:1"}}),
        json!({"source": "a", "detail": {"status": "shipped"}}),
        json!({"source": "a", "detail": {"status": "placed"}}),
        json!({"source": "a", "detail-type": "t", "account": "1"}),
        json!({"source": "a", "detail-type": "t", "account": "12"}),
        json!({"source": "a", "detail-type": "t", "account": "2"}),
        json!({"source": "a", "detail-type": "t", "account": 1}),
        json!({"source": "a", "detail-type": "t"}),
        json!({"detail": {"a": {"b": "x"}, "c": "y"}}),
        json!({"detail": {"a": [{"b": "x"}], "c": "yy"}}),
        json!({"detail": {"a": {"b": "x"}, "c": ["y"]}}),
        json!({"detail": {"a.b": "x", "c": "y"}}),
        json!({"detail": {"a": {"b": "z"}, "c": "y"}}),
        // "a" and x = 1 in different elements of one array: no match; in one: a match.
        json!({"source": [["a"], {"x": 1}]}),
        json!({"source": [["a", {"x": 1}]]}),
        json!({"source": ["a", {"x": 1}]}),
    ];
    let matched = check(&patterns, &events);
    assert!(matched > 60, "only {matched} matches");

    let matched = check_raw(
        &patterns,
        &[
            r#"{"detail": {"status": "x", "status": "shipped"}}"#,
            r#"{"detail": {"status": "shipped"}, "detail": {"count": 5}}"#,
            r#"{"detail": {"count": 5e0}}"#,
            r#"{"detail": {"count": 50e-1, "status": ["shipped", 1]}}"#,
            r#"{"detail": {"items": [{"sku": "A", "sku": "B", "qty": 2}]}}"#,
        ],
    );
    assert!(matched >= 8, "only {matched} matches");
}

#[test]
fn keys_are_fields_of_listed_strings() {
    let keys = |text: &str| -> Vec<Vec<String>> {
        let p = Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        p.rules
            .iter()
            .map(|r| {
                choose_keys(r)
                    .into_iter()
                    .map(|i| r.fields[i].path.to_string())
                    .collect()
            })
            .collect()
    };
    let one = |path: &str| vec![vec![path.to_owned()]];
    assert_eq!(
        keys(r#"{"detail": {"status": ["a", "b"]}}"#),
        one("detail.status")
    );
    assert_eq!(keys(r#"{"a": [{"prefix": "x"}, "y"]}"#), one("a"));
    // Anything that accepts values a list of strings does not name is never a key.
    for text in [
        r#"{"a": [{"anything-but": "x"}]}"#,
        r#"{"a": [{"anything-but": {"prefix": "x"}}]}"#,
        r#"{"a": ["x", {"exists": true}]}"#,
        r#"{"a": ["x", {"exists": false}]}"#,
        r#"{"a": ["x", null]}"#,
        r#"{"a": ["x", 5]}"#,
        r#"{"a": ["5", false]}"#,
        r#"{"a": ["10.0.0.1"]}"#,
        r#"{"a": [{"equals-ignore-case": "x"}]}"#,
        r#"{"a": [{"suffix": "x"}]}"#,
        r#"{"a": [{"wildcard": "x*"}]}"#,
        r#"{"a": [{"cidr": "10.0.0.0/8"}]}"#,
        r#"{"a": [{"numeric": [">", 1]}]}"#,
    ] {
        assert_eq!(keys(text), vec![Vec::<String>::new()], "{text}");
    }
    // Top-level fields first (one scan for all), exact before prefix, at most two.
    assert_eq!(
        keys(r#"{"source": ["s"], "detail-type": ["t"], "detail": {"x": ["y"]}}"#),
        vec![vec!["source".to_owned(), "detail-type".to_owned()]]
    );
    assert_eq!(
        keys(r#"{"source": [{"prefix": "s"}], "account": ["1"], "region": ["r"]}"#),
        vec![vec!["account".to_owned(), "region".to_owned()]]
    );
    // Without top-level keys, the best deeper one alone.
    assert_eq!(
        keys(r#"{"detail": {"a": [{"prefix": "p"}], "b": ["x", "y"], "c": ["z"]}}"#),
        one("detail.c")
    );
    assert_eq!(
        keys(r#"{"$or": [{"source": ["s"]}, {"detail": {"x": ["y"]}}, {"n": [1]}]}"#),
        vec![
            vec!["source".to_owned()],
            vec!["detail.x".to_owned()],
            vec![]
        ]
    );
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

/// Deterministic generator so the property tests need no dependency.
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

/// Values a pattern offers at each of its paths (exact values, operands of operators and,
/// for prefixes, a string they start), so that generated events hit the index's keys.
fn offered(v: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, Value)>) {
    let Value::Object(o) = v else {
        return;
    };
    for (k, x) in o {
        if k == "$or" {
            for alt in x.as_array().into_iter().flatten() {
                offered(alt, path, out);
            }
            continue;
        }
        path.push(k.clone());
        match x {
            Value::Array(values) => {
                for value in values {
                    match value {
                        Value::Object(expr) => {
                            for (op, arg) in expr {
                                if let Value::String(s) = arg {
                                    out.push((path.clone(), json!(s)));
                                    if op == "prefix" {
                                        out.push((path.clone(), json!(format!("{s}x"))));
                                    }
                                }
                            }
                        }
                        Value::Array(_) => {}
                        scalar => out.push((path.clone(), scalar.clone())),
                    }
                }
            }
            Value::Object(_) => offered(x, path, out),
            _ => {}
        }
        path.pop();
    }
}

/// Sets `value` at `path` in `ev`, replacing what is in the way with objects.
fn set_at(ev: &mut Value, path: &[String], value: Value) {
    let Some((last, heads)) = path.split_last() else {
        return;
    };
    let mut node = ev;
    for k in heads {
        if !node.is_object() {
            *node = json!({});
        }
        let obj = node.as_object_mut().expect("object");
        node = obj.entry(k.clone()).or_insert_with(|| json!({}));
    }
    if !node.is_object() {
        *node = json!({});
    }
    node.as_object_mut()
        .expect("object")
        .insert(last.clone(), value);
}

/// Takes the value at `path` out of `ev`.
fn remove_at(ev: &mut Value, path: &[String]) {
    let Some((last, heads)) = path.split_last() else {
        return;
    };
    let mut node = ev;
    for k in heads {
        match node.get_mut(k) {
            Some(n) => node = n,
            None => return,
        }
    }
    if let Some(o) = node.as_object_mut() {
        o.remove(last);
    }
}

/// The same value as another JSON type: a numeric string as a number and back.
fn retyped(v: &Value) -> Value {
    match v {
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            .unwrap_or(json!(12)),
        Value::Number(n) => json!(n.to_string()),
        _ => json!("12"),
    }
}

/// Variants of `events` with values the patterns offer put at their paths in the shapes the
/// index must handle: plain, missing, in an array of values, in a nested array, as another
/// type, inside an array of objects, under a dotted key.
fn variants(
    events: &[Value],
    offers: &[(Vec<String>, Value)],
    per_event: usize,
    rng: &mut Rng,
) -> Vec<Value> {
    let mut out = Vec::new();
    for ev in events.iter().filter(|e| e.is_object()) {
        for _ in 0..per_event {
            let mut e = ev.clone();
            for _ in 0..1 + rng.next() % 3 {
                let (path, value) = &offers[rng.next() % offers.len()];
                match rng.next() % 11 {
                    0..=3 => set_at(&mut e, path, value.clone()),
                    4 => remove_at(&mut e, path),
                    5 => set_at(&mut e, path, json!([value, "zz"])),
                    6 => set_at(&mut e, path, retyped(value)),
                    7 if path.len() > 1 => {
                        // The value in one element of an array of objects, "zz" in another.
                        let (head, rest) = path.split_at(1);
                        let mut a = json!({});
                        let mut b = json!({});
                        set_at(&mut a, rest, json!("zz"));
                        set_at(&mut b, rest, value.clone());
                        set_at(&mut e, head, json!([a, b]));
                    }
                    8 => set_at(&mut e, &[path.join(".")], value.clone()),
                    // A value in a nested array belongs to an element, as in arrays of
                    // objects.
                    9 => set_at(&mut e, path, json!([[value], {"zz": 1}])),
                    _ => {}
                }
            }
            out.push(e);
        }
    }
    out
}

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/eventbridge-patterns/cases.jsonl"
);

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../events/eventbridge");

/// Every valid pattern of the conformance corpus in one set, against every corpus event
/// and variants of them with values from the patterns put at the patterns' paths.
#[test]
fn index_agrees_with_naive_on_corpus() {
    let text = std::fs::read_to_string(CORPUS)
        .unwrap_or_else(|e| panic!("cannot read corpus at {CORPUS}: {e}"));
    let mut patterns = Vec::new();
    let mut events = Vec::new();
    let mut raw_events = Vec::new();
    let mut offers = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).expect("corpus line is JSON");
        let (pattern, value) = match &case["pattern"] {
            Value::String(t) => (Pattern::parse(t), serde_json::from_str(t).ok()),
            v => (Pattern::from_value(v), Some(v.clone())),
        };
        if let Ok(p) = pattern {
            patterns.push(p);
            if let Some(v) = value {
                offered(&v, &mut Vec::new(), &mut offers);
            }
        }
        match &case["event"] {
            Value::String(t) => raw_events.extend(Event::parse(t).ok()),
            v => events.push(v.clone()),
        }
    }
    offers.sort_by_key(|(p, v)| (p.clone(), v.to_string()));
    offers.dedup();
    assert!(
        patterns.len() > 500 && offers.len() > 200,
        "{} patterns, {} offered values",
        patterns.len(),
        offers.len()
    );

    let generated = variants(&events, &offers, 2, &mut Rng(7));
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

/// Rules of the shapes the bus carries (as in the pattern benchmark), many keyed by
/// content, against the project's EventBridge fixtures and variants of them.
#[test]
fn index_agrees_with_naive_on_fixtures() {
    let mut events = Vec::new();
    let dir = std::fs::read_dir(FIXTURES).unwrap_or_else(|e| panic!("{FIXTURES}: {e}"));
    for entry in dir {
        let path = entry.expect("fixture entry").path();
        if path.extension().is_some_and(|x| x == "json") {
            let text = std::fs::read_to_string(&path).expect("fixture text");
            events.push(serde_json::from_str::<Value>(&text).expect("fixture JSON"));
        }
    }
    assert!(events.len() >= 5, "{} fixtures", events.len());
    let texts = [
        r#"{"source": [{"prefix": "eventmart."}]}"#,
        r#"{"source": ["eventmart.orders"], "detail-type": ["OrderPlaced", "OrderCanceled"]}"#,
        r#"{"source": ["eventmart.fulfillment"], "detail-type": [{"prefix": "Fulfillment"}]}"#,
        r#"{"detail": {"data": {"items": {"sku": [{"prefix": "SHOE-"}], "quantity": [{"numeric": [">", 1]}]}}}}"#,
        r#"{"detail": {"data": {"items": {"sku": ["SOCK-3PK", "CAP-BLK"]}}}}"#,
        r#"{"detail": {"data": {"plan": ["annual"]}}}"#,
        r#"{"detail": {"data": {"plan": [{"anything-but": "annual"}]}}}"#,
        r#"{"detail": {"data": {"total": {"currency": ["EUR", "SEK"]}}}}"#,
        r#"{"detail": {"data": {"total": {"currency": [{"anything-but": ["EUR", "GBP"]}]}}}}"#,
        r#"{"detail-type": ["OrderPlaced"], "detail": {"data": {"email": [{"suffix": "@example.com"}]}}}"#,
        r#"{"detail": {"metadata": {"eventVersion": [1]}}}"#,
        r#"{"detail": {"metadata": {"eventVersion": ["1"]}}}"#,
        r#"{"detail": {"data": {"customerId": [{"prefix": "cust-"}], "couponCode": [{"exists": false}]}}}"#,
        r#"{"$or": [{"detail": {"data": {"plan": ["monthly"]}}}, {"detail": {"data": {"total": {"amountMinor": [{"numeric": [">=", 1000]}]}}}}]}"#,
        r#"{"resources": [{"prefix": "arn:"}]}"#,
        r#"{"detail": {"data": {"reason": [{"wildcard": "*warehouse*"}]}}}"#,
    ];
    let patterns = pats(&texts);
    let mut offers = Vec::new();
    for t in texts {
        let v: Value = serde_json::from_str(t).expect("pattern JSON");
        offered(&v, &mut Vec::new(), &mut offers);
    }
    let generated = variants(&events, &offers, 40, &mut Rng(11));
    events.extend(generated);
    let matched = check(&patterns, &events);
    assert!(matched > 300, "only {matched} matches");
}
