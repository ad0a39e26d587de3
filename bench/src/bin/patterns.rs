//! Eventmart's pattern-engine benchmark (issue 5): events/s matched against 1, 10, 100 and
//! 1,000 rules, one thread, beside LocalStack's Python engine and moto's matcher run
//! in-process on the same events and rules.
//!
//! `patterns [--smoke] [--out PATH] [--python PATH | --no-python] [--seconds S]`
//!
//! - Events: the project's EventBridge fixtures (`events/eventbridge/*.json`) turned into
//!   variants with their own ids, customers, amounts and currencies; a quarter of them come
//!   from other producers sharing the bus (other `source`s and `detail-type`s, same shape).
//! - Rules: the template's real rules (and its archive's pattern) first, then generated
//!   rules of the shapes real buses carry (exact source and detail-type, `$or`, source
//!   prefixes, numeric ranges, anything-but, exists, suffix, wildcard, equals-ignore-case,
//!   content-only rules) over many producers. N rules are the first N of one list.
//! - Eventmart: a [`RuleSet`] of the N patterns matches each already-parsed event (what the
//!   bus does); also shown: the plain per-rule loop, and the set from raw JSON text (parse
//!   included).
//! - Python: `bench/python/patterns.py` in the bench virtualenv (`setup-venv.sh`) reads the
//!   same events and rules from a JSON file, measures both engines the same way, and
//!   counts how many (event, rule) decisions each agrees with ours on.

#[path = "../machine.rs"]
mod machine;
#[path = "../rng.rs"]
mod rng;
use machine::machine;
use rng::Rng;

use eventmart_local::pattern::{Event, Pattern, RuleSet};
use eventmart_local::template::{LocalNaming, Stack};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const USAGE: &str =
    "usage: patterns [--smoke] [--out PATH] [--python PATH | --no-python] [--seconds S]";
const COUNTS: [usize; 4] = [1, 10, 100, 1000];
/// The targets.
const TARGET_RATIO: f64 = 100.0;
const TARGET_EVENTS_PER_S_AT_100: f64 = 1_000_000.0;

struct Args {
    smoke: bool,
    out: PathBuf,
    python: Option<PathBuf>,
    /// Seconds per measurement (per rule count and engine).
    seconds: f64,
}

fn parse_args(root: &Path) -> Result<Args, String> {
    let mut args = Args {
        smoke: false,
        out: root.join("target/bench/patterns.md"),
        python: Some(root.join("target/bench/venv/bin/python")),
        seconds: 0.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--smoke" => args.smoke = true,
            "--out" => args.out = PathBuf::from(value()?),
            "--python" => args.python = Some(PathBuf::from(value()?)),
            "--no-python" => args.python = None,
            "--seconds" => {
                let v = value()?;
                args.seconds = match v.parse::<f64>() {
                    Ok(s) if s > 0.0 && s.is_finite() => s,
                    _ => return Err(format!("--seconds takes a positive number, not {v:?}")),
                };
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if args.seconds == 0.0 {
        args.seconds = if args.smoke { 0.2 } else { 2.0 };
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// Deterministic data: the same events and rules on every run.

/// Producers sharing the bus besides Eventmart's own, with their event types.
fn producers() -> Vec<(String, Vec<String>)> {
    let mut out = vec![
        (
            "eventmart.orders".to_owned(),
            vec!["OrderPlaced".to_owned(), "OrderCanceled".to_owned()],
        ),
        (
            "eventmart.memberships".to_owned(),
            vec![
                "MembershipSignedUp".to_owned(),
                "MembershipCanceled".to_owned(),
            ],
        ),
        (
            "eventmart.fulfillment".to_owned(),
            vec![
                "FulfillmentStarted".to_owned(),
                "OrderShipped".to_owned(),
                "FulfillmentCanceled".to_owned(),
                "FulfillmentCancelRejected".to_owned(),
            ],
        ),
    ];
    let nouns = [
        "Payment",
        "Refund",
        "Stock",
        "Price",
        "Review",
        "Return",
        "Coupon",
        "Invoice",
        "Shipment",
        "Cart",
        "Wishlist",
        "Account",
        "Subscription",
        "Recommendation",
        "FraudCheck",
        "Supplier",
        "Warehouse",
        "Catalog",
        "Campaign",
        "Ticket",
    ];
    let verbs = ["Created", "Updated", "Completed", "Failed", "Expired"];
    for (i, noun) in nouns.iter().enumerate() {
        let org = ["com.acme", "com.partner", "io.marketplace"][i % 3];
        let source = format!("{org}.{}", noun.to_lowercase());
        let types = verbs.iter().map(|v| format!("{noun}{v}")).collect();
        out.push((source, types));
    }
    for (s, t) in [
        ("aws.s3", "Object Created"),
        ("aws.ec2", "EC2 Instance State-change Notification"),
        (
            "aws.codepipeline",
            "CodePipeline Pipeline Execution State Change",
        ),
    ] {
        out.push((s.to_owned(), vec![t.to_owned()]));
    }
    out
}

fn fixtures(root: &Path) -> Result<Vec<Value>, String> {
    let dir = root.join("events/eventbridge");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let text = std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        out.push(serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?);
    }
    if out.is_empty() {
        return Err(format!("no fixtures in {}", dir.display()));
    }
    Ok(out)
}

/// Replaces every value under `key` (anywhere in `v`) with `f()`.
fn set_all(v: &mut Value, key: &str, f: &mut dyn FnMut() -> Value) {
    match v {
        Value::Object(o) => {
            for (k, x) in o.iter_mut() {
                if k == key {
                    *x = f();
                } else {
                    set_all(x, key, f);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| set_all(x, key, f)),
        _ => {}
    }
}

fn events(fixtures: &[Value], producers: &[(String, Vec<String>)], n: usize) -> Vec<Value> {
    let mut rng = Rng(0x5EED_E7E7);
    let currencies = ["EUR", "USD", "GBP", "SEK"];
    let plans = ["monthly", "annual"];
    let skus = [
        "SHOE-RUN-42",
        "SOCK-3PK",
        "SHOE-TRAIL-40",
        "CAP-BLK",
        "BAG-DAY-20",
    ];
    (0..n)
        .map(|i| {
            let mut e = fixtures[i % fixtures.len()].clone();
            let currency = *rng.pick(&currencies);
            let customer = format!("cust-{}", rng.below(5000));
            let (id, event_id, entity) = (rng.uuid(), rng.uuid(), rng.uuid());
            let mut amount = || json!(100 + rng.below(50_000));
            set_all(&mut e, "amountMinor", &mut amount);
            for (key, value) in [
                ("id", json!(id)),
                ("eventId", json!(event_id)),
                ("orderId", json!(entity)),
                ("membershipId", json!(entity)),
                ("customerId", json!(customer)),
                ("email", json!(format!("{customer}@example.com"))),
                ("currency", json!(currency)),
            ] {
                set_all(&mut e, key, &mut || value.clone());
            }
            let plan = *rng.pick(&plans);
            set_all(&mut e, "plan", &mut || json!(plan));
            let sku = *rng.pick(&skus);
            set_all(&mut e, "sku", &mut || json!(sku));
            // A quarter of the traffic is other producers' events on the same bus.
            if rng.chance(25) {
                let (source, types) = rng.pick(&producers[3..]);
                e["source"] = json!(source);
                e["detail-type"] = json!(rng.pick(types));
            }
            e
        })
        .collect()
}

/// The template's rules and archive pattern, as deployed.
fn template_patterns(root: &Path) -> Result<Vec<(String, Value)>, String> {
    let naming = LocalNaming::new("http://127.0.0.1:9");
    let stack = Stack::load(&root.join("template.yaml"), &naming, &BTreeMap::new())
        .map_err(|e| e.to_string())?;
    let mut out: Vec<(String, Value)> = stack
        .rules
        .iter()
        .map(|r| (r.name.clone(), r.pattern.clone()))
        .collect();
    out.extend(
        stack
            .archives
            .iter()
            .filter_map(|a| Some((a.name.clone(), a.pattern.clone()?))),
    );
    Ok(out)
}

/// Generated rules of the shapes found on real buses.
fn generated_rule(rng: &mut Rng, producers: &[(String, Vec<String>)]) -> Value {
    // Eventmart's own producers are a third of the subscriptions.
    let (source, types) = if rng.chance(33) {
        rng.pick(&producers[..3])
    } else {
        rng.pick(&producers[3..])
    };
    let some_types = |rng: &mut Rng| -> Vec<&String> {
        let k = 1 + rng.index(types.len().min(3));
        (0..k).map(|_| rng.pick(types)).collect()
    };
    match rng.below(20) {
        0..=6 => json!({"source": [source], "detail-type": some_types(rng)}),
        7..=8 => json!({"source": [source]}),
        9..=10 => {
            let lo = 100 * rng.below(200);
            json!({"source": [source], "detail-type": some_types(rng),
                   "detail": {"data": {"total": {"amountMinor": [{"numeric": [">=", lo, "<", lo + 20_000]}]}}}})
        }
        11 => json!({"source": [source],
                     "detail": {"data": {"total": {"currency": [{"anything-but": ["EUR", "GBP"]}]}}}}),
        12 => {
            let prefix = *rng.pick(&["com.acme.", "eventmart.", "io.marketplace.", "aws."]);
            json!({"source": [{"prefix": prefix}], "detail-type": some_types(rng)})
        }
        13..=14 => {
            let (s2, t2) = rng.pick(producers);
            json!({"$or": [
                {"source": [source], "detail-type": some_types(rng)},
                {"source": [s2], "detail-type": [rng.pick(t2)]}
            ]})
        }
        15 => {
            json!({"source": [source], "detail": {"metadata": {"correlationId": [{"exists": true}]},
                                                   "data": {"couponCode": [{"exists": false}]}}})
        }
        16 => json!({"detail-type": some_types(rng),
                     "detail": {"data": {"email": [{"suffix": "@example.com"}]}}}),
        17 => {
            let n = rng.below(5000);
            json!({"source": [source], "detail": {"data": {
                "customerId": [{"equals-ignore-case": format!("CUST-{n}")}],
                "email": [{"wildcard": "cust-*@example.com"}]}}})
        }
        _ => {
            // No source: such a rule is checked against every event.
            let sku = *rng.pick(&["SHOE-", "SOCK-", "BAG-"]);
            json!({"detail": {"data": {"items": {
                "sku": [{"prefix": sku}],
                "quantity": [{"numeric": [">", 1]}]}}}})
        }
    }
}

fn rules(root: &Path, producers: &[(String, Vec<String>)], n: usize) -> Result<Vec<Value>, String> {
    let mut out: Vec<Value> = template_patterns(root)?
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    let mut rng = Rng(0x00C0_FFEE);
    while out.len() < n {
        out.push(generated_rule(&mut rng, producers));
    }
    out.truncate(n);
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Measurement

#[derive(Clone, Copy)]
struct Rate {
    events_per_s: f64,
    /// Matches per event, to see that the work is real.
    matches_per_event: f64,
}

/// CPU time of the calling thread, in seconds. Rates are per CPU-second of the measuring
/// thread so that other load on the machine (2 cores, shared with builds) does not count
/// against any engine; the Python side uses `time.thread_time()`, the same clock.
fn thread_cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// Runs `round` (which matches every event once and returns the number of matches) until
/// `seconds` of thread CPU time have passed, `reps` times; the median rate.
fn measure(events: usize, seconds: f64, reps: usize, mut round: impl FnMut() -> usize) -> Rate {
    let _ = round(); // warm-up
    let mut rates = Vec::with_capacity(reps);
    let mut matches_per_event = 0.0;
    for _ in 0..reps {
        let (start, wall) = (thread_cpu_seconds(), Instant::now());
        let (mut done, mut matched) = (0usize, 0usize);
        let elapsed = loop {
            matched += round();
            done += events;
            let cpu = thread_cpu_seconds() - start;
            // Wall-clock bound too, in case the CPU clock is unavailable (NaN).
            if cpu.is_nan()
                || cpu >= seconds
                || wall.elapsed() >= Duration::from_secs_f64(seconds * 20.0)
            {
                break if cpu.is_finite() && cpu > 0.0 {
                    cpu
                } else {
                    wall.elapsed().as_secs_f64()
                };
            }
        };
        rates.push(done as f64 / elapsed);
        matches_per_event = matched as f64 / done as f64;
    }
    rates.sort_by(f64::total_cmp);
    Rate {
        events_per_s: rates[rates.len() / 2],
        matches_per_event,
    }
}

struct RustRow {
    rules: usize,
    set: Rate,
    naive: Rate,
    raw: Rate,
}

fn bench_rust(patterns: &[Pattern], events: &[Value], args: &Args) -> Vec<RustRow> {
    let reps = if args.smoke { 1 } else { 3 };
    let texts: Vec<String> = events.iter().map(Value::to_string).collect();
    COUNTS
        .iter()
        .map(|&n| {
            let subset = &patterns[..n.min(patterns.len())];
            let set = RuleSet::new(subset.iter().cloned());
            let mut out = Vec::new();
            let set_rate = measure(events.len(), args.seconds, reps, || {
                events
                    .iter()
                    .map(|e| {
                        set.matches(std::hint::black_box(e), &mut out);
                        out.len()
                    })
                    .sum()
            });
            let naive = measure(events.len(), args.seconds / 2.0, 1, || {
                events
                    .iter()
                    .map(|e| {
                        let e = std::hint::black_box(e);
                        subset.iter().filter(|p| p.matches(e)).count()
                    })
                    .sum()
            });
            let raw = measure(events.len(), args.seconds / 2.0, 1, || {
                texts
                    .iter()
                    .map(|t| match Event::parse(std::hint::black_box(t)) {
                        Ok(e) => {
                            set.matches_event(&e, &mut out);
                            out.len()
                        }
                        Err(_) => 0,
                    })
                    .sum()
            });
            eprintln!(
                "eventmart: {n} rules: {:.0} events/s ({:.2} matches/event)",
                set_rate.events_per_s, set_rate.matches_per_event
            );
            RustRow {
                rules: n,
                set: set_rate,
                naive,
                raw,
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Python side

struct PyResult {
    python: String,
    engines: Vec<(String, Value)>,
}

fn run_python(
    python: &Path,
    root: &Path,
    data_path: &Path,
    args: &Args,
) -> Result<PyResult, String> {
    if !python.exists() {
        return Err(format!(
            "{} not found: run `bash bench/python/setup-venv.sh` first (or pass --no-python)",
            python.display()
        ));
    }
    let result_path = data_path.with_file_name("patterns-python.json");
    let plot = args.out.with_extension("png");
    let seconds = if args.smoke { 0.3 } else { 1.5 * args.seconds };
    let agreement = if args.smoke { 20 } else { 200 };
    let status = Command::new(python)
        .arg(root.join("bench/python/patterns.py"))
        .arg("--data")
        .arg(data_path)
        .arg("--out")
        .arg(&result_path)
        .arg("--seconds")
        .arg(seconds.to_string())
        .arg("--agreement-events")
        .arg(agreement.to_string())
        .arg("--plot")
        .arg(&plot)
        .status()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !status.success() {
        return Err(format!("bench/python/patterns.py failed: {status}"));
    }
    let text = std::fs::read_to_string(&result_path)
        .map_err(|e| format!("{}: {e}", result_path.display()))?;
    let v: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", result_path.display()))?;
    let engines = v["engines"]
        .as_object()
        .map(|o| o.iter().map(|(k, x)| (k.clone(), x.clone())).collect())
        .unwrap_or_default();
    Ok(PyResult {
        python: v["python"].as_str().unwrap_or("?").to_owned(),
        engines,
    })
}

// ---------------------------------------------------------------------------------------
// Report

/// `1234567.8` -> `1,234,568`.
fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "–".to_owned();
    }
    let digits = format!("{:.0}", x);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(a: f64, b: Option<f64>) -> String {
    match b {
        Some(b) if b > 0.0 => format!("{:.0}×", a / b),
        _ => "–".to_owned(),
    }
}

fn py_rate(py: Option<&PyResult>, engine: &str, n: usize) -> Option<f64> {
    let (_, v) = py?.engines.iter().find(|(k, _)| k == engine)?;
    v["throughput"][n.to_string()]["events_per_s"].as_f64()
}

fn render(
    args: &Args,
    rows: &[RustRow],
    py: Option<&PyResult>,
    py_error: Option<&str>,
    rules: &[Value],
    events: usize,
) -> String {
    let mut s = String::new();
    render_setup(&mut s, args, rules.len(), events);
    render_throughput(&mut s, rows, py);
    render_targets(&mut s, rows, py);
    s.push_str(
        "Eventmart matches with `eventmart_local::pattern::RuleSet` (what the bus routes with): \
         rules indexed by fields that accept only listed strings or prefixes (`source`, \
         `detail-type`, or a content field), each indexed path looked up once per event for \
         all rules, the matcher run only on candidates. *Per-rule loop*: `Pattern::matches` \
         for each rule in turn. *Incl. JSON parse*: from the event's JSON text \
         (`Event::parse`, numbers kept as written). The Python engines get already-parsed dicts and precompiled patterns \
         (LocalStack's provider compiles the pattern on every call; moto copies the event \
         through `json.dumps`/`json.loads` inside `matches_event`, which is its own code).\n\n",
    );
    match (py, py_error) {
        (Some(py), _) => render_agreement(&mut s, py, rules),
        (None, Some(e)) => {
            let _ = writeln!(s, "Python engines not run: {e}\n");
        }
        (None, None) => {}
    }
    s
}

/// The title and what was measured, on what.
fn render_setup(s: &mut String, args: &Args, rules: usize, events: usize) {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let _ = writeln!(
        s,
        "# Pattern engine: events/s by rule count{}\n",
        if args.smoke { " (smoke run)" } else { "" }
    );
    let _ = writeln!(s, "Machine: {}.  ", machine());
    let _ = writeln!(
        s,
        "Eventmart build: {profile}; one thread; {events} events (the project's EventBridge \
         fixtures as variants, a quarter from other producers); N rules = the template's {} \
         real patterns, then generated ones; {:.1} s of thread CPU time per measurement{}. \
         Events/s are per CPU-second of the one measuring thread, for every engine.\n",
        rules.min(5),
        args.seconds,
        if args.smoke { "" } else { ", median of 3" }
    );
}

/// Events/s per rule count, each engine and the ratios.
fn render_throughput(s: &mut String, rows: &[RustRow], py: Option<&PyResult>) {
    let _ = writeln!(
        s,
        "| rules | eventmart events/s | LocalStack events/s | moto events/s | vs LocalStack | vs moto | eventmart per-rule loop | eventmart incl. JSON parse | matches/event |"
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let ls = py_rate(py, "localstack", r.rules);
        let mo = py_rate(py, "moto", r.rules);
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2} |",
            thousands(r.rules as f64),
            thousands(r.set.events_per_s),
            ls.map_or("–".to_owned(), thousands),
            mo.map_or("–".to_owned(), thousands),
            ratio(r.set.events_per_s, ls),
            ratio(r.set.events_per_s, mo),
            thousands(r.naive.events_per_s),
            thousands(r.raw.events_per_s),
            r.set.matches_per_event,
        );
    }
    s.push('\n');
}

/// Whether the targets were met: absolute at 100 rules, and the lowest ratio to a Python engine.
fn render_targets(s: &mut String, rows: &[RustRow], py: Option<&PyResult>) {
    if let Some(at100) = rows.iter().find(|r| r.rules == 100) {
        let ok = at100.set.events_per_s >= TARGET_EVENTS_PER_S_AT_100;
        let _ = writeln!(
            s,
            "- Target ≥ {} events/s at 100 rules: {} ({}).",
            thousands(TARGET_EVENTS_PER_S_AT_100),
            if ok { "met" } else { "**not met**" },
            thousands(at100.set.events_per_s)
        );
    }
    let worst = rows
        .iter()
        .flat_map(|r| {
            ["localstack", "moto"]
                .into_iter()
                .filter_map(move |engine| {
                    let x = py_rate(py, engine, r.rules)?;
                    Some((
                        r.set.events_per_s / x,
                        format!("{engine} at {} rules", r.rules),
                    ))
                })
        })
        .min_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((k, at)) = worst {
        let _ = writeln!(
            s,
            "- Target ≥ {TARGET_RATIO:.0}× both Python engines at every rule count: {} (lowest: {k:.0}×, {at}).",
            if k >= TARGET_RATIO {
                "met"
            } else {
                "**not met**"
            }
        );
    }
    s.push('\n');
}

/// How often the Python engines decide as eventmart does, and the rules where they do not.
fn render_agreement(s: &mut String, py: &PyResult, rules: &[Value]) {
    let _ = writeln!(s, "## Agreement with eventmart (Python {})\n", py.python);
    let _ = writeln!(
        s,
        "| engine | version | decisions compared | agree | disagree | rules disagreeing | patterns rejected | errors |"
    );
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|---:|---:|");
    for (name, v) in &py.engines {
        let a = &v["agreement"];
        let _ = writeln!(
            s,
            "| {name} | {} | {} | {} | {} | {} | {} | {} |",
            v["version"].as_str().unwrap_or("?"),
            thousands(a["decisions"].as_f64().unwrap_or(f64::NAN)),
            thousands(a["agree"].as_f64().unwrap_or(f64::NAN)),
            thousands(a["disagree"].as_f64().unwrap_or(f64::NAN)),
            a["rules_disagreeing"],
            v["rejected_rules"].as_array().map_or(0, Vec::len),
            v["errors"]["count"],
        );
    }
    s.push_str(
        "\nDecisions: the first events of the list against all the rules. Where they \
         differ (these rules' patterns; eventmart passes the 950-case conformance \
         corpus):\n\n",
    );
    for (name, v) in &py.engines {
        let worst = v["agreement"]["worst_rules"].as_array();
        for w in worst.into_iter().flatten().take(5) {
            let Some(i) = w["rule"].as_u64().map(|i| i as usize) else {
                continue;
            };
            let pattern = rules.get(i).map(Value::to_string).unwrap_or_default();
            let _ = writeln!(
                s,
                "- {name}, rule {i} ({} decisions): `{pattern}`",
                w["disagreements"]
            );
        }
        for r in v["rejected_rules"].as_array().into_iter().flatten().take(3) {
            let _ = writeln!(
                s,
                "- {name} rejects rule {}: {}",
                r["rule"],
                r["error"].as_str().unwrap_or("?")
            );
        }
    }
    s.push('\n');
}

// ---------------------------------------------------------------------------------------

fn run(args: &Args, root: &Path) -> Result<String, String> {
    let producers = producers();
    let fixtures = fixtures(root)?;
    let n_events = if args.smoke { 200 } else { 1000 };
    let events = events(&fixtures, &producers, n_events);
    let max_rules = COUNTS.iter().copied().max().unwrap_or(1);
    let rules = rules(root, &producers, max_rules)?;
    let texts: Vec<String> = rules.iter().map(Value::to_string).collect();
    let patterns: Vec<Pattern> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| Pattern::parse(t).map_err(|e| format!("rule {i} {t}: {e}")))
        .collect::<Result<_, _>>()?;

    let rows = bench_rust(&patterns, &events, args);

    // Eventmart's decisions for the agreement check: all rules, every event.
    let all = RuleSet::new(patterns.iter().cloned());
    let decisions: Vec<Vec<usize>> = events.iter().map(|e| all.matching(e)).collect();
    let eventmart: serde_json::Map<String, Value> = rows
        .iter()
        .map(|r| {
            (
                r.rules.to_string(),
                json!({"events_per_s": r.set.events_per_s}),
            )
        })
        .collect();
    let data = json!({
        "counts": COUNTS,
        "events": events,
        "rules": texts,
        "decisions": decisions,
        "eventmart": eventmart,
    });
    let data_path = args.out.with_file_name("patterns-data.json");
    if let Some(dir) = data_path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(&data_path, data.to_string())
        .map_err(|e| format!("{}: {e}", data_path.display()))?;
    eprintln!("events and rules written to {}", data_path.display());

    let (py, py_error) = match &args.python {
        Some(python) => match run_python(python, root, &data_path, args) {
            Ok(r) => (Some(r), None),
            Err(e) => return Err(e),
        },
        None => (None, Some("--no-python".to_owned())),
    };
    Ok(render(
        args,
        &rows,
        py.as_ref(),
        py_error.as_deref(),
        &rules,
        events.len(),
    ))
}

fn main() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let args = match parse_args(&root) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args, &root) {
        Ok(table) => {
            print!("{table}");
            if let Some(dir) = args.out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(&args.out, &table) {
                eprintln!("{}: {e}", args.out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("written to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("patterns: {e}");
            ExitCode::FAILURE
        }
    }
}
