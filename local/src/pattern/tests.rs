use serde_json::json;

use super::*;

fn p(text: &str) -> Pattern {
    Pattern::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn m(pattern: &str, event: serde_json::Value) -> bool {
    let pat = p(pattern);
    let by_value = pat.matches(&event);
    // The raw-text path must agree on ordinary events.
    let by_text = pat.matches_json(&event.to_string()).unwrap();
    assert_eq!(by_value, by_text, "{pattern} vs {event}");
    by_value
}

fn err(pattern: &str) -> String {
    match Pattern::parse(pattern) {
        Ok(_) => panic!("{pattern} should be invalid"),
        Err(e) => e.reason,
    }
}

#[test]
fn exact_values() {
    assert!(m(r#"{"a": ["x", "y"]}"#, json!({"a": "y"})));
    assert!(!m(r#"{"a": ["x"]}"#, json!({"a": "X"})));
    assert!(m(r#"{"a": [300]}"#, json!({"a": 300.0})));
    assert!(m(r#"{"a": [3.018e2]}"#, json!({"a": 301.8})));
    assert!(!m(r#"{"a": [300]}"#, json!({"a": "300"})));
    assert!(m(r#"{"a": [true]}"#, json!({"a": true})));
    assert!(!m(r#"{"a": [false]}"#, json!({"a": "false"})));
    assert!(m(r#"{"a": [null]}"#, json!({"a": null})));
    assert!(!m(r#"{"a": [null]}"#, json!({"a": "null"})));
    assert!(!m(r#"{"a": [null]}"#, json!({})));
    assert!(m(
        r#"{"a": ["2001:db8::1"]}"#,
        json!({"a": "2001:0db8:0:0:0:0:0:1"})
    ));
}

#[test]
fn nesting_dots_and_arrays() {
    assert!(m(
        r#"{"d": {"s": {"t": ["x"]}}}"#,
        json!({"d": {"s.t": "x"}})
    ));
    assert!(m(
        r#"{"d": {"s.t": ["x"]}}"#,
        json!({"d": {"s": {"t": "x"}}})
    ));
    assert!(m(r#"{"tags": ["b"]}"#, json!({"tags": ["a", "b"]})));
    assert!(!m(r#"{"tags": ["c"]}"#, json!({"tags": []})));
    // Array consistency: both fields from the same element.
    let pat = r#"{"e": {"first": ["Anna"], "last": ["Jones"]}}"#;
    assert!(!m(
        pat,
        json!({"e": [{"first": "Anna", "last": "Smith"}, {"first": "Peter", "last": "Jones"}]})
    ));
    assert!(m(
        pat,
        json!({"e": [{"first": "X"}, {"first": "Anna", "last": "Jones"}]})
    ));
    assert!(!m(r#"{"a": ["x"]}"#, json!({"a": {"b": "x"}})));
    assert!(!m(r#"{"a": ["x"]}"#, json!(["a"])));
}

#[test]
fn prefix_suffix_ignore_case_and_wildcard() {
    assert!(m(r#"{"a": [{"prefix": "ab"}]}"#, json!({"a": "abc"})));
    assert!(m(r#"{"a": [{"prefix": ""}]}"#, json!({"a": "z"})));
    assert!(!m(r#"{"a": [{"prefix": ""}]}"#, json!({"a": 1})));
    assert!(m(
        r#"{"a": [{"prefix": {"equals-ignore-case": "AB"}}]}"#,
        json!({"a": "aBc"})
    ));
    assert!(m(r#"{"a": [{"suffix": ".png"}]}"#, json!({"a": "x.png"})));
    assert!(!m(r#"{"a": [{"suffix": ".PNG"}]}"#, json!({"a": "x.png"})));
    assert!(m(
        r#"{"a": [{"suffix": {"equals-ignore-case": ".PNG"}}]}"#,
        json!({"a": "x.png"})
    ));
    assert!(m(
        r#"{"a": [{"equals-ignore-case": "ÉTÉ"}]}"#,
        json!({"a": "été"})
    ));
    assert!(m(
        r#"{"a": [{"suffix": {"equals-ignore-case": "Straße"}}]}"#,
        json!({"a": "STRAßE"})
    ));
    assert!(m(
        r#"{"a": [{"wildcard": "*/doc*.txt"}]}"#,
        json!({"a": "/u/x/doc1.txt"})
    ));
    assert!(!m(r#"{"a": [{"wildcard": "a*a"}]}"#, json!({"a": "a"})));
    assert!(m(r#"{"a": [{"wildcard": "a\\*b"}]}"#, json!({"a": "a*b"})));
    assert!(!m(r#"{"a": [{"wildcard": "a\\*b"}]}"#, json!({"a": "axb"})));
    assert!(m(
        r#"{"a": [{"wildcard": "a\\\\b"}]}"#,
        json!({"a": "a\\b"})
    ));
    assert!(!m(r#"{"a": [{"wildcard": ""}]}"#, json!({"a": "x"})));
    assert!(m(r#"{"a": [{"wildcard": "*"}]}"#, json!({"a": ""})));
}

#[test]
fn anything_but() {
    assert!(m(r#"{"a": [{"anything-but": "x"}]}"#, json!({"a": "y"})));
    assert!(!m(r#"{"a": [{"anything-but": "x"}]}"#, json!({"a": "x"})));
    assert!(m(r#"{"a": [{"anything-but": "x"}]}"#, json!({"a": null})));
    assert!(!m(r#"{"a": [{"anything-but": "x"}]}"#, json!({})));
    assert!(!m(
        r#"{"a": [{"anything-but": [1, 2]}]}"#,
        json!({"a": 2.0})
    ));
    assert!(m(r#"{"a": [{"anything-but": [1, 2]}]}"#, json!({"a": "2"})));
    assert!(!m(
        r#"{"a": [{"anything-but": {"prefix": "in"}}]}"#,
        json!({"a": "init"})
    ));
    assert!(m(
        r#"{"a": [{"anything-but": {"prefix": "in"}}]}"#,
        json!({"a": 12})
    ));
    assert!(!m(
        r#"{"a": [{"anything-but": {"suffix": [".a", ".b"]}}]}"#,
        json!({"a": "x.b"})
    ));
    assert!(!m(
        r#"{"a": [{"anything-but": {"equals-ignore-case": ["X"]}}]}"#,
        json!({"a": "x"})
    ));
    assert!(!m(
        r#"{"a": [{"anything-but": {"wildcard": "*/d/*"}}]}"#,
        json!({"a": "a/d/b"})
    ));
    assert!(m(
        r#"{"a": [{"anything-but": {"wildcard": ["*/d/*"]}}]}"#,
        json!({"a": "a/e/b"})
    ));
    // Any array element that is not excluded is enough.
    assert!(m(
        r#"{"a": [{"anything-but": "x"}]}"#,
        json!({"a": ["x", "y"]})
    ));
}

#[test]
fn numeric() {
    let pat = r#"{"n": [{"numeric": [">", 0, "<=", 5]}]}"#;
    assert!(m(pat, json!({"n": 5})));
    assert!(!m(pat, json!({"n": 0})));
    assert!(!m(pat, json!({"n": "3"})));
    assert!(!m(pat, json!({"n": null})));
    assert!(m(
        r#"{"n": [{"numeric": ["=", 301.8]}]}"#,
        json!({"n": 301.8})
    ));
    assert!(m(
        r#"{"n": [{"numeric": ["<", -1e300]}]}"#,
        json!({"n": -1e301})
    ));
    assert!(m(
        r#"{"n": [{"numeric": [">=", 10]}]}"#,
        json!({"n": [1, 10]})
    ));
    assert!(!m(
        r#"{"n": [{"numeric": [">=", 100.00001]}]}"#,
        json!({"n": 100})
    ));
    // Raw text keeps numbers beyond a double: exact match on text still works.
    let big = p(r#"{"id": [123456789012345678901234567890e300]}"#);
    assert!(
        big.matches_json(r#"{"id": 123456789012345678901234567890e300}"#)
            .unwrap()
    );
    assert!(
        p(r#"{"id": [1e400]}"#)
            .matches_json(r#"{"id": 1e400}"#)
            .unwrap()
    );
    assert!(
        !p(r#"{"n": [{"numeric": [">", 0]}]}"#)
            .matches_json(r#"{"n": 1e400}"#)
            .unwrap()
    );
}

#[test]
fn exists() {
    assert!(m(r#"{"a": [{"exists": true}]}"#, json!({"a": null})));
    assert!(!m(r#"{"a": [{"exists": true}]}"#, json!({"a": {"b": 1}})));
    assert!(!m(r#"{"a": [{"exists": true}]}"#, json!({"a": []})));
    assert!(m(r#"{"a": [{"exists": false}]}"#, json!({"b": 1})));
    assert!(!m(r#"{"a": [{"exists": false}]}"#, json!({"a": 1})));
    assert!(m(
        r#"{"a": {"b": [{"exists": true}]}}"#,
        json!({"a": [{"c": 1}, {"b": 2}]})
    ));
    let pat = r#"{"d": {"a": [{"exists": true}], "b": [{"exists": false}]}}"#;
    assert!(m(pat, json!({"d": [{"a": 1}]})));
    assert!(!m(pat, json!({"d": [{"a": 1, "b": 2}]})));
    let or_absent = r#"{"s": [{"anything-but": ["roses"]}, {"exists": false}]}"#;
    assert!(m(or_absent, json!({})));
    assert!(m(or_absent, json!({"s": "tulips"})));
    assert!(!m(or_absent, json!({"s": "roses"})));
}

#[test]
fn cidr() {
    let v4 = r#"{"ip": [{"cidr": "10.0.0.0/24"}]}"#;
    assert!(m(v4, json!({"ip": "10.0.0.255"})));
    assert!(!m(v4, json!({"ip": "10.0.1.0"})));
    assert!(!m(v4, json!({"ip": "10.0.0.256"})));
    assert!(!m(v4, json!({"ip": 10})));
    assert!(m(
        r#"{"ip": [{"cidr": "220.160.154.255/24"}]}"#,
        json!({"ip": "220.160.154.1"})
    ));
    let v6 = r#"{"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}"#;
    assert!(m(
        v6,
        json!({"ip": "2001:0db8:1234:1a00:0000:0000:0000:0001"})
    ));
    assert!(!m(v6, json!({"ip": "2001:db8:1234:1a01::"})));
    assert!(!m(v6, json!({"ip": "10.0.0.1"})));
    assert!(m(
        r#"{"ip": [{"cidr": "0.0.0.0/0"}]}"#,
        json!({"ip": "1.2.3.4"})
    ));
}

#[test]
fn or_and_duplicates() {
    let pat = r#"{"d": {"$or": [{"a": [1]}, {"b": [2], "$or": [{"c": [3]}, {"e": [4]}]}]}}"#;
    assert!(m(pat, json!({"d": {"a": 1}})));
    assert!(m(pat, json!({"d": {"b": 2, "e": 4}})));
    assert!(!m(pat, json!({"d": {"b": 2}})));
    // Later key wins for the same path.
    assert!(m(r#"{"x": ["y"], "x": ["z"]}"#, json!({"x": "z"})));
    assert!(!m(r#"{"x": ["y"], "x": ["z"]}"#, json!({"x": "y"})));
    let over = r#"{"name": ["a"], "$or": [{"name": [{"anything-but": "a"}]}, {"c": ["x"]}]}"#;
    assert!(m(over, json!({"name": "c"})));
}

#[test]
fn error_messages() {
    let cases = [
        ("[1, 2]", "Filter is not an object"),
        (r#"{"resources": []}"#, "Empty arrays are not allowed"),
        (r#"{"a": {}}"#, "Empty objects are not allowed"),
        (r#"{"int": 42}"#, "\"int\" must be an object or an array"),
        (
            r#"{"a": [[1]]}"#,
            "Match value must be String, number, true, false, or null",
        ),
        (
            r#"{"a": [{"NUMERIC": ["=", 5]}]}"#,
            "Unrecognized match type NUMERIC",
        ),
        (
            r#"{"a": [{"prefix": 1}]}"#,
            "prefix match pattern must be a string",
        ),
        (
            r#"{"a": [{"suffix": [".png"]}]}"#,
            "suffix match pattern must be a string",
        ),
        (
            r#"{"a": [{"prefix": "x", "b": 1}]}"#,
            "Only one key allowed in match expression",
        ),
        (
            r#"{"a": [{"prefix": {"x": "y"}}]}"#,
            "Unsupported prefix pattern: x",
        ),
        (
            r#"{"a": [{"equals-ignore-case": ["x"]}]}"#,
            "equals-ignore-case match pattern must be a string",
        ),
        (
            r#"{"a": [{"wildcard": 1}]}"#,
            "wildcard match pattern must be a string",
        ),
        (
            r#"{"a": [{"wildcard": "a**b"}]}"#,
            "Consecutive wildcard characters at pos 2",
        ),
        (
            r#"{"a": [{"wildcard": "a\\d"}]}"#,
            "Invalid escape character at pos 1",
        ),
        (
            r#"{"a": [{"exists": "yes"}]}"#,
            "exists match pattern must be either true or false.",
        ),
        (
            r#"{"a": [{"cidr": "bad"}]}"#,
            "Malformed CIDR, one '/' required",
        ),
        (
            r#"{"a": [{"cidr": "bad-/64x"}]}"#,
            "Malformed CIDR, mask bits must be an integer",
        ),
        (
            r#"{"a": [{"cidr": "xx.1/8"}]}"#,
            "Nonstandard IP address: xx.1",
        ),
        (
            r#"{"a": [{"cidr": ["1.2.3.4/8"]}]}"#,
            "prefix match pattern must be a string",
        ),
        (
            r#"{"a": [{"numeric": 10}]}"#,
            "Value of numeric must be an array.",
        ),
        (
            r#"{"a": [{"numeric": [">", 0, ">", 0]}]}"#,
            "Bad numeric range operator: >",
        ),
        (
            r#"{"a": [{"numeric": [">", 0, "<"]}]}"#,
            "Value of < must be numeric",
        ),
        (
            r#"{"a": [{"numeric": ["=", "1"]}]}"#,
            "Value of equals must be numeric",
        ),
        (
            r#"{"a": [{"numeric": [">", 5, "<", 1]}]}"#,
            "Bottom must be less than top",
        ),
        (
            r#"{"a": [{"numeric": ["=", 1e309]}]}"#,
            "Value 1e309 is out of range for a double",
        ),
        (
            r#"{"a": [{"anything-but": null}]}"#,
            "Value of anything-but must be an array or single string/number value.",
        ),
        (
            r#"{"a": [{"anything-but": ["x", null]}]}"#,
            "Inside anything but list, start|null|boolean is not supported.",
        ),
        (
            r#"{"a": [{"anything-but": ["x", 1]}]}"#,
            "Inside anything but list, either all values are number or string, mixed type is not supported",
        ),
        (
            r#"{"a": [{"anything-but": {"prefix": ""}}]}"#,
            "Null prefix/suffix not allowed",
        ),
        (
            r#"{"a": [{"anything-but": {"suffix": 1}}]}"#,
            "prefix/suffix match pattern must be a string",
        ),
        (
            r#"{"a": [{"anything-but": {"equals-ignore-case": 1}}]}"#,
            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
        ),
        (
            r#"{"a": [{"anything-but": {"foo": "x"}}]}"#,
            "Unsupported anything-but pattern: foo",
        ),
        (
            r#"{"$or": [{"a": ["x"]}]}"#,
            "There must have at least 2 Objects in $or relationship.",
        ),
        (
            r#"{"$or": {"a": ["x"]}}"#,
            "It must be an Array followed with $or.",
        ),
        (
            r#"{"$or": [{"a": ["x"]}, [1]]}"#,
            "Only JSON object is allowed in array of $or relationship.",
        ),
        (
            "{'bad': 1}",
            "Unexpected character (''' (code 39)): was expecting double-quote to start field name",
        ),
        (
            "this is not json",
            "Unrecognized token 'this': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')",
        ),
    ];
    for (pattern, reason) in cases {
        assert_eq!(err(pattern), reason, "{pattern}");
    }
    let e = Pattern::parse("[]").unwrap_err();
    assert_eq!(
        e.to_string(),
        "Event pattern is not valid. Reason: Filter is not an object"
    );
    assert!(
        err(r#"{"a": [{"wildcard": "*:*:*:*:*:event-bus/*"}]}"#).starts_with("Rule is too complex")
    );
}

#[test]
fn from_value_matches_parse() {
    let v = json!({"detail": {"state": [{"anything-but": ["a"]}], "n": [{"numeric": ["<", 5]}]}});
    let a = Pattern::from_value(&v).unwrap();
    let b = p(&v.to_string());
    let ev = json!({"detail": {"state": "b", "n": 4}});
    assert!(a.matches(&ev) && b.matches(&ev));
    assert!(Pattern::from_value(&json!([1])).is_err());
}

/// Deterministic pseudo-random generator so the fuzz test needs no dependency.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() as usize) % xs.len()]
    }
}

#[test]
fn odd_inputs_never_panic() {
    let atoms = [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"a\"",
        "\"a.b\"",
        "\"$or\"",
        "\"prefix\"",
        "\"suffix\"",
        "\"numeric\"",
        "\"anything-but\"",
        "\"exists\"",
        "\"cidr\"",
        "\"wildcard\"",
        "\"equals-ignore-case\"",
        "\"*\"",
        "\"a\\\\*\"",
        "\"\\\\\"",
        "\"1.2.3.4/33\"",
        "\"::/0\"",
        "\">\"",
        "\"<=\"",
        "\"=\"",
        "1e400",
        "-0",
        "1E-400",
        "0.5",
        "true",
        "false",
        "null",
        "\"\\ud800\"",
        "\"é\"",
        " ",
        "\"\"",
    ];
    let mut rng = Lcg(42);
    let events: Vec<String> = (0..40)
        .map(|_| (0..rng.next() % 30).map(|_| rng.pick(&atoms)).collect())
        .chain([
            r#"{"a": [[[{"b": 1}]], {"a": {"b": [1, [2]]}}], "a.b": "x"}"#.to_string(),
            r#"{"a": {"b": [{"c": [{"d": [{"e": [{"f": [{"g": [{"h": [{"i": [{"j": 1}]}]}]}]}]}]}]}]}}"#
                .to_string(),
        ])
        .collect();
    let mut compiled = 0;
    for _ in 0..4000 {
        let text: String = (0..rng.next() % 24).map(|_| rng.pick(&atoms)).collect();
        if let Ok(pat) = Pattern::parse(&text) {
            compiled += 1;
            for e in &events {
                let _ = pat.matches_json(e);
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(e) {
                    let _ = pat.matches(&v);
                }
            }
        }
    }
    // Hand-written odd but valid patterns too.
    for text in [
        r#"{"a": {"b": [{"exists": false}]}, "$or": [{"a.b": [1]}, {"a": {"b": [{"numeric": [">=", -1e308]}]}}]}"#,
        r#"{"a": [{"wildcard": "*\\**"}, {"cidr": "::/0"}, {"anything-but": {"wildcard": ["*"]}}]}"#,
        r#"{"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": [1]}}}}}}}}}, "a.b": [{"exists": true}]}"#,
    ] {
        let pat = p(text);
        for e in &events {
            let _ = pat.matches_json(e);
        }
    }
    assert!(compiled > 0 || Pattern::parse("{\"a\": [1]}").is_ok());
    // Deep nesting is an error, not a stack overflow.
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    assert!(Pattern::parse(&deep).is_err());
    assert!(Event::parse(&deep).is_err());
    let deep_obj = format!("{}[1]{}", "{\"a\":".repeat(300), "}".repeat(300));
    assert!(Pattern::parse(&deep_obj).is_err());
}
