//! The local data warehouse's benchmark (issue 14): events/s through the local delivery
//! stream, the Parquet bytes per event, the named queries' time over the lake, and the
//! added latency from publish to queryable under the template's buffering.
//!
//! `lake [--events N] [--runs R] [--out PATH]`
//!
//! - Events: the project's EventBridge fixtures (`events/eventbridge/*.json`) as a shop's
//!   traffic: every type in a fixed mix (OrderPlaced the largest share), each with its own
//!   ids; follow-ups (fulfilment, shipping, cancellations) name an order placed before them
//!   and occur hours after it, over several days, so the lake has many partitions.
//! - Each event goes through the lake rule that matches it (the template's): its
//!   `InputTransformer` makes the flattened record; then `PutRecord` into the delivery
//!   stream the template defines (buffers per partition), then one flush (Parquet
//!   conversion against the Glue table and the write). S3 is not measured: the stream
//!   writes to a store that only counts, and to its local copy on disk, which the queries
//!   read.
//! - Latency: a fresh stream with its timer at the stack's default delay scale; one record
//!   put, `SELECT count(*)` polled until it sees it.

#[path = "../machine.rs"]
mod machine;
#[path = "../rng.rs"]
mod rng;
use machine::machine;
use rng::Rng;

use eventmart_local::eventbridge::RecordSink;
use eventmart_local::firehose::{DeliveryStreams, LakeTable, ObjectStore};
use eventmart_local::lambda::BoxFuture;
use eventmart_local::stack::{StackOptions, specs};
use eventmart_local::template::{LocalNaming, Rule, RuleTarget, Stack};
use eventmart_local::warehouse::sql::query;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: lake [--events N] [--runs R] [--out PATH]";
/// Runs of each named query; the median is reported.
const QUERY_RUNS: usize = 5;
/// Publish → queryable trials; the median is reported.
const LATENCY_TRIALS: usize = 5;
const POLL: Duration = Duration::from_millis(5);
/// A record not queryable by then is a failure, not a figure.
const LATENCY_GIVE_UP: Duration = Duration::from_secs(30);
/// The region and account `LocalNaming` resolves the template with (rule ARNs).
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

struct Args {
    events: usize,
    runs: usize,
    out: PathBuf,
}

fn parse_args(root: &Path) -> Result<Args, String> {
    let mut args = Args {
        events: 20_000,
        runs: 3,
        out: root.join("target/bench/lake.md"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--events" | "--runs" => {
                let v = value()?;
                let n = match v.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(format!("{flag} takes a positive integer, not {v:?}")),
                };
                if flag == "--events" {
                    args.events = n;
                } else {
                    args.runs = n;
                }
            }
            "--out" => args.out = PathBuf::from(value()?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

// ---------------------------------------------------------------------------------------
// Deterministic events: the same shop traffic on every run.

/// The shop's mix, in percent of events: most events are orders and their fulfilment;
/// cancellations and memberships are the minority.
const MIX: [(&str, u64); 8] = [
    ("OrderPlaced", 40),
    ("FulfillmentStarted", 22),
    ("OrderShipped", 20),
    ("OrderCanceled", 4),
    ("FulfillmentCanceled", 3),
    ("FulfillmentCancelRejected", 1),
    ("MembershipSignedUp", 7),
    ("MembershipCanceled", 3),
];
/// Orders are placed over this many days (follow-ups may fall a day or two later).
const DAYS: u64 = 4;
const DAY_MS: u64 = 86_400_000;
const HOUR_MS: u64 = 3_600_000;

/// `ms` after 2026-11-20T00:00:00Z as the fixtures write `occurredAt` (and, `millis` off,
/// `time`). Spans stay inside November, so no calendar is needed.
fn timestamp(ms: u64, millis: bool) -> String {
    let (day, rest) = (20 + ms / DAY_MS, ms % DAY_MS);
    let (h, m, s) = (rest / HOUR_MS, rest / 60_000 % 60, rest / 1000 % 60);
    let base = format!("2026-11-{day:02}T{h:02}:{m:02}:{s:02}");
    if millis {
        format!("{base}.{:03}Z", rest % 1000)
    } else {
        format!("{base}Z")
    }
}

struct Order {
    id: String,
    customer: u64,
    at: u64,
    total: Value,
}

struct Member {
    id: String,
    customer: u64,
    plan: &'static str,
    at: u64,
}

fn fixtures(root: &Path) -> Result<BTreeMap<String, Value>, String> {
    let dir = root.join("events/eventbridge");
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let event: Value =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let kind = event["detail-type"].as_str().unwrap_or_default().to_owned();
        out.insert(kind, event);
    }
    for (kind, _) in MIX {
        if !out.contains_key(kind) {
            return Err(format!("no {kind} fixture in {}", dir.display()));
        }
    }
    Ok(out)
}

fn money(amount: u64, currency: &str) -> Value {
    json!({"amountMinor": amount, "currency": currency})
}

/// `n` events of the shop, in the order they are published.
fn shop_events(fixtures: &BTreeMap<String, Value>, n: usize) -> Vec<Value> {
    let mut rng = Rng(0x1A4E_0014);
    let currencies = ["EUR", "USD", "GBP", "SEK"];
    let skus = [
        ("SHOE-RUN-42", 8999),
        ("SOCK-3PK", 1250),
        ("SHOE-TRAIL-40", 11999),
        ("CAP-BLK", 1999),
        ("BAG-DAY-20", 4999),
    ];
    let reasons = [
        "Ordered the wrong size",
        "Found it cheaper",
        "Delivery too slow",
    ];
    let (mut orders, mut members) = (Vec::<Order>::new(), Vec::<Member>::new());
    let mut events = Vec::with_capacity(n);
    for i in 0..n as u64 {
        // The shop's clock moves forward evenly over the days.
        let now = i * DAYS * DAY_MS / n as u64 + rng.below(1000);
        let mut roll = rng.below(100);
        let mut kind = MIX[0].0;
        for (k, share) in MIX {
            if roll < share {
                kind = k;
                break;
            }
            roll -= share;
        }
        // A follow-up needs something placed before it.
        if kind.starts_with("Membership") && kind != "MembershipSignedUp" && members.is_empty() {
            kind = "MembershipSignedUp";
        } else if !kind.starts_with("Membership") && kind != "OrderPlaced" && orders.is_empty() {
            kind = "OrderPlaced";
        }
        let mut e = fixtures[kind].clone();
        let customer_email = |c: u64| format!("cust-{c}@example.com");
        let at;
        match kind {
            "OrderPlaced" => {
                let customer = rng.below(5000);
                let currency = currencies[(customer % 4) as usize];
                let items: Vec<Value> = (0..1 + rng.below(3))
                    .map(|_| {
                        let (sku, price) = *rng.pick(&skus);
                        json!({"sku": sku, "quantity": 1 + rng.below(3),
                               "unitPrice": money(price, currency)})
                    })
                    .collect();
                let subtotal: u64 = items
                    .iter()
                    .map(|x| {
                        x["quantity"].as_u64().unwrap_or(0)
                            * x["unitPrice"]["amountMinor"].as_u64().unwrap_or(0)
                    })
                    .sum();
                // A third of the orders are members' with 10 % off.
                let member = rng.below(3) == 0;
                let discount = if member { subtotal / 10 } else { 0 };
                let id = rng.uuid();
                let data = &mut e["detail"]["data"];
                data["orderId"] = json!(id);
                data["customerId"] = json!(format!("cust-{customer}"));
                data["email"] = json!(customer_email(customer));
                data["items"] = json!(items);
                data["subtotal"] = money(subtotal, currency);
                data["discount"] = money(discount, currency);
                data["total"] = money(subtotal - discount, currency);
                if member {
                    data["membership"]["membershipId"] = json!(rng.uuid());
                } else if let Some(d) = data.as_object_mut() {
                    d.remove("membership");
                }
                at = now;
                orders.push(Order {
                    id,
                    customer,
                    at,
                    total: data["total"].clone(),
                });
            }
            "MembershipSignedUp" => {
                let customer = rng.below(5000);
                let plan = *rng.pick(&["monthly", "annual"]);
                let id = rng.uuid();
                let data = &mut e["detail"]["data"];
                data["membershipId"] = json!(id);
                data["customerId"] = json!(format!("cust-{customer}"));
                data["email"] = json!(customer_email(customer));
                data["plan"] = json!(plan);
                at = now;
                members.push(Member {
                    id,
                    customer,
                    plan,
                    at,
                });
            }
            "MembershipCanceled" => {
                let m = rng.pick(&members);
                let data = &mut e["detail"]["data"];
                data["membershipId"] = json!(m.id);
                data["customerId"] = json!(format!("cust-{}", m.customer));
                data["email"] = json!(customer_email(m.customer));
                data["plan"] = json!(m.plan);
                data["reason"] = json!(*rng.pick(&["Too expensive", "Not using it"]));
                at = m.at + (1 + rng.below(48)) * HOUR_MS;
            }
            _ => {
                let o = rng.pick(&orders);
                let data = &mut e["detail"]["data"];
                data["orderId"] = json!(o.id);
                if data.get("customerId").is_some() {
                    data["customerId"] = json!(format!("cust-{}", o.customer));
                    data["email"] = json!(customer_email(o.customer));
                }
                if kind == "OrderCanceled" {
                    data["total"] = o.total.clone();
                    data["reason"] = json!(*rng.pick(&reasons));
                }
                at = o.at + (1 + rng.below(36)) * HOUR_MS + rng.below(HOUR_MS);
            }
        }
        e["id"] = json!(rng.uuid());
        e["time"] = json!(timestamp(at, false));
        let metadata = &mut e["detail"]["metadata"];
        metadata["eventId"] = json!(rng.uuid());
        metadata["occurredAt"] = json!(timestamp(at, true));
        metadata["correlationId"] = json!(rng.uuid());
        events.push(e);
    }
    events
}

// ---------------------------------------------------------------------------------------
// What is measured

/// S3 is not what is measured: the stream's objects are only counted.
#[derive(Default)]
struct CountingStore {
    parquet_objects: AtomicU64,
    parquet_bytes: AtomicU64,
    other_objects: AtomicU64,
}

impl ObjectStore for CountingStore {
    fn put(&self, _bucket: &str, key: &str, body: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        if key.ends_with(".parquet") {
            self.parquet_objects.fetch_add(1, Ordering::Relaxed);
            self.parquet_bytes
                .fetch_add(body.len() as u64, Ordering::Relaxed);
        } else {
            self.other_objects.fetch_add(1, Ordering::Relaxed);
        }
        Box::pin(async { Ok(()) })
    }
}

/// The template, its lake rules and the stream they deliver to.
struct Lake {
    model: Stack,
    /// The rules delivering to the converting stream, with their ARNs.
    rules: Vec<(Rule, String)>,
    /// The stream's name and its logical id.
    stream: String,
    stream_id: String,
}

fn load_lake(root: &Path) -> Result<Lake, String> {
    let naming = LocalNaming::new("http://127.0.0.1:0");
    let model = Stack::load(&root.join("template.yaml"), &naming, &Default::default())
        .map_err(|e| e.to_string())?;
    let stream = model
        .delivery_streams
        .iter()
        .find(|d| d.conversion.is_some())
        .ok_or("the template has no delivery stream that converts to Parquet")?;
    let (stream_name, stream_id) = (stream.name.clone(), stream.logical_id.clone());
    let rules: Vec<(Rule, String)> = model
        .rules
        .iter()
        .filter(|r| r.enabled && r.target == RuleTarget::DeliveryStream(stream_id.clone()))
        .map(|r| {
            // As the bus names its rules' ARNs.
            let arn = if r.bus == "default" {
                format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/{}", r.name)
            } else {
                format!(
                    "arn:aws:events:{REGION}:{ACCOUNT}:rule/{}/{}",
                    r.bus, r.name
                )
            };
            (r.clone(), arn)
        })
        .collect();
    if rules.is_empty() {
        return Err(format!("no rule delivers to {stream_id}"));
    }
    Ok(Lake {
        model,
        rules,
        stream: stream_name,
        stream_id,
    })
}

fn reset_dir(dir: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("{}: {e}", dir.display())),
    }
}

/// One run through the stream: seconds per step, and what was written.
struct Throughput {
    transform_s: f64,
    buffer_s: f64,
    flush_s: f64,
    objects: u64,
    parquet_bytes: u64,
}

impl Throughput {
    fn total_s(&self) -> f64 {
        self.transform_s + self.buffer_s + self.flush_s
    }
}

/// One run; also returns the records made (for their NDJSON size and the latency trials).
async fn through_stream(
    lake: &Lake,
    events: &[(Value, usize)],
    dir: &Path,
) -> Result<(Throughput, Vec<String>), String> {
    reset_dir(dir)?;
    // Factor 1: the template's own interval (60 s), which no run here reaches; the timer
    // is not started either, so every partition is one buffer and one object.
    let specs = specs::delivery_streams(&lake.model, 1.0)?;
    let store = Arc::new(CountingStore::default());
    let streams =
        DeliveryStreams::new(specs, store.clone(), dir.to_path_buf()).map_err(|e| e.to_string())?;

    // The bus stamps each delivery with its start; the event's own time stands in (no
    // lake template reads it).
    let started = Instant::now();
    let records = events
        .iter()
        .map(|(e, rule)| {
            let (rule, arn) = &lake.rules[*rule];
            let ingested = e["time"].as_str().unwrap_or_default();
            rule.input
                .apply(e, arn, ingested)
                .map_err(|err| format!("{}: {err}", rule.name))
        })
        .collect::<Result<Vec<String>, String>>()?;
    let transform_s = started.elapsed().as_secs_f64();

    // Owned bytes, as the bus hands them over; copied outside the timed step.
    let data: Vec<Vec<u8>> = records.iter().map(|r| r.clone().into_bytes()).collect();
    let started = Instant::now();
    for d in data {
        streams
            .put_record(&lake.stream, d)
            .await
            .map_err(|e| e.to_string())?;
    }
    let buffer_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    streams.flush().await;
    let flush_s = started.elapsed().as_secs_f64();

    let c = streams.counters();
    if c.records != events.len() as u64 || c.error_records != 0 || c.write_errors != 0 {
        return Err(format!(
            "the stream did not write every record: {c:?} for {} events",
            events.len()
        ));
    }
    Ok((
        Throughput {
            transform_s,
            buffer_s,
            flush_s,
            objects: store.parquet_objects.load(Ordering::Relaxed),
            parquet_bytes: store.parquet_bytes.load(Ordering::Relaxed),
        },
        records,
    ))
}

struct QueryTime {
    name: String,
    median_ms: f64,
    rows: usize,
    /// The first cell of the first row, for single-value answers.
    first: Option<Value>,
}

fn time_queries(lake: &Lake, table: &LakeTable) -> Result<Vec<QueryTime>, String> {
    let mut out = Vec::new();
    for q in &lake.model.named_queries {
        // The view is created and used in one session (a call), as an analyst would.
        let sql = if q.name == "distinct_events" {
            format!("{}; SELECT count(*) FROM distinct_events", q.query)
        } else {
            q.query.clone()
        };
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..QUERY_RUNS {
            let started = Instant::now();
            let r = query(&table.dir, &table.data_prefix, &table.schema, &sql)
                .map_err(|e| format!("{}: {e}", q.name))?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            last = Some(r);
        }
        let r = last.unwrap_or_else(|| unreachable!("QUERY_RUNS > 0"));
        out.push(QueryTime {
            name: q.name.clone(),
            median_ms: median(&mut times),
            rows: r.rows.len(),
            first: r.rows.first().and_then(|row| row.first()).cloned(),
        });
    }
    Ok(out)
}

struct Latency {
    factor: f64,
    /// The stream's interval after scaling.
    interval: Duration,
    trials_ms: Vec<f64>,
    polls: usize,
    /// Polls that failed (none expected: files appear whole).
    poll_errors: usize,
    /// The median time of one `SELECT count(*)` poll (the measurement's resolution).
    poll_ms: f64,
}

async fn publish_to_queryable(
    lake: &Lake,
    records: &[String],
    dir: &Path,
    factor: f64,
) -> Result<Latency, String> {
    let specs = specs::delivery_streams(&lake.model, factor)?;
    let interval = specs
        .iter()
        .find(|s| s.name == lake.stream)
        .map(|s| s.interval)
        .ok_or_else(|| format!("no stream {}", lake.stream))?;
    let (mut trials_ms, mut polls, mut poll_errors, mut poll_times) =
        (Vec::new(), 0, 0, Vec::new());
    for trial in 0..LATENCY_TRIALS {
        let root = dir.join(format!("trial-{trial}"));
        reset_dir(&root)?;
        let store = Arc::new(CountingStore::default());
        let streams =
            DeliveryStreams::new(specs.clone(), store, root.clone()).map_err(|e| e.to_string())?;
        let table = LakeTable::of(&lake.model, &root)?;
        let timer = streams.spawn_timer();
        // Each trial puts its record at another phase of the timer's tick.
        tokio::time::sleep(Duration::from_millis(37 * trial as u64 + 10)).await;
        let record = records[trial % records.len()].clone().into_bytes();
        let t0 = Instant::now();
        streams
            .put_record(&lake.stream, record)
            .await
            .map_err(|e| e.to_string())?;
        let seen = loop {
            let started = Instant::now();
            let r = query(
                &table.dir,
                &table.data_prefix,
                &table.schema,
                "SELECT count(*) FROM events",
            );
            poll_times.push(started.elapsed().as_secs_f64() * 1000.0);
            polls += 1;
            match r {
                Ok(r) if r.rows.first().and_then(|row| row.first()) == Some(&json!(1)) => {
                    break t0.elapsed();
                }
                Ok(_) => {}
                Err(_) => poll_errors += 1,
            }
            if t0.elapsed() > LATENCY_GIVE_UP {
                timer.abort();
                return Err(format!(
                    "trial {trial}: the record was not queryable after {LATENCY_GIVE_UP:?}"
                ));
            }
            tokio::time::sleep(POLL).await;
        };
        timer.abort();
        trials_ms.push(seen.as_secs_f64() * 1000.0);
    }
    Ok(Latency {
        factor,
        interval,
        trials_ms,
        polls,
        poll_errors,
        poll_ms: median(&mut poll_times),
    })
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
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
        if i > 0 && c != '-' && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

struct Measured {
    events: usize,
    mix: BTreeMap<String, usize>,
    partitions: usize,
    runs: Vec<Throughput>,
    ndjson_bytes: u64,
    event_bytes: u64,
    queries: Vec<QueryTime>,
    latency: Latency,
    /// The template's `BufferingHints`.
    interval: Duration,
    size_mb: u32,
    stream_id: String,
    rules: usize,
}

fn render(m: &Measured) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let n = m.events as f64;
    let mut s = String::new();
    let _ = writeln!(s, "# The warehouse: delivery stream, Parquet, queries\n");
    let _ = writeln!(s, "Machine: {}.  ", machine());
    let mix: Vec<String> = m.mix.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let _ = writeln!(
        s,
        "Build: {profile}; {} events made from the project's EventBridge fixtures ({}), \
         over {} partitions (type × day); the template's {} lake rules and its {} \
         (`BufferingHints`: {} s, {} MB); S3 not measured (a store that only counts), \
         the local copy written to disk. Throughput: median of {} runs.\n",
        thousands(n),
        mix.join(", "),
        m.partitions,
        m.rules,
        m.stream_id,
        m.interval.as_secs(),
        m.size_mb,
        m.runs.len(),
    );

    let col = |f: fn(&Throughput) -> f64| {
        let mut v: Vec<f64> = m.runs.iter().map(f).collect();
        median(&mut v)
    };
    let transform = col(|r| r.transform_s);
    let buffer = col(|r| r.buffer_s);
    let flush = col(|r| r.flush_s);
    let total = col(Throughput::total_s);
    let _ = writeln!(s, "## Throughput through the local delivery stream\n");
    let _ = writeln!(s, "| step | s | events/s |");
    let _ = writeln!(s, "|---|---:|---:|");
    for (step, secs) in [
        ("InputTransformer (the lake rule's, per event)", transform),
        (
            "buffering (`PutRecord`, partitioned by the JQ query)",
            buffer,
        ),
        ("Parquet conversion and write (`flush`)", flush),
        ("end to end", total),
    ] {
        let _ = writeln!(s, "| {step} | {secs:.3} | {} |", thousands(n / secs));
    }
    let _ = writeln!(
        s,
        "\nThe flush wrote {} objects (one per partition): {:.1} ms per object.\n",
        m.runs[0].objects,
        flush * 1000.0 / m.runs[0].objects.max(1) as f64
    );

    let first = &m.runs[0];
    let parquet = first.parquet_bytes as f64;
    let _ = writeln!(s, "## Size\n");
    let _ = writeln!(s, "| | bytes | bytes/event |");
    let _ = writeln!(s, "|---|---:|---:|");
    let _ = writeln!(
        s,
        "| Parquet (SNAPPY), {} objects, {} rows each on average | {} | {:.1} |",
        first.objects,
        thousands(n / first.objects.max(1) as f64),
        thousands(parquet),
        parquet / n
    );
    let _ = writeln!(
        s,
        "| the same records as NDJSON (what the rules put) | {} | {:.1} |",
        thousands(m.ndjson_bytes as f64),
        m.ndjson_bytes as f64 / n
    );
    let _ = writeln!(
        s,
        "| the EventBridge events as JSON (before the InputTransformer) | {} | {:.1} |",
        thousands(m.event_bytes as f64),
        m.event_bytes as f64 / n
    );
    let _ = writeln!(
        s,
        "\nParquet / NDJSON: {:.2} (Parquet is {:.1}× smaller).\n",
        parquet / m.ndjson_bytes as f64,
        m.ndjson_bytes as f64 / parquet
    );

    let _ = writeln!(s, "## Named queries over that lake\n");
    let _ = writeln!(s, "| query | ms (median of {QUERY_RUNS}) | rows | |");
    let _ = writeln!(s, "|---|---:|---:|---|");
    for q in &m.queries {
        let note = if q.name == "distinct_events" {
            format!(
                "the view, then `SELECT count(*) FROM distinct_events` = {}",
                q.first.as_ref().map_or("?".to_owned(), Value::to_string)
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            s,
            "| {} | {:.1} | {} | {note} |",
            q.name, q.median_ms, q.rows
        );
    }
    let _ = writeln!(
        s,
        "\nEach call opens DuckDB, exposes the table over every `*.parquet` of the lake and \
         runs the query (as `eventmart-local sql` does).\n"
    );

    let l = &m.latency;
    let mut trials = l.trials_ms.clone();
    let med = median(&mut trials);
    let (lo, hi) = (
        trials.first().copied().unwrap_or(f64::NAN),
        trials.last().copied().unwrap_or(f64::NAN),
    );
    let interval_ms = l.interval.as_secs_f64() * 1000.0;
    let _ = writeln!(s, "## Publish → queryable\n");
    let _ = writeln!(
        s,
        "| delay scale | buffer interval | latency, median of {} | min – max | beyond the interval | one poll |",
        l.trials_ms.len()
    );
    let _ = writeln!(s, "|---:|---:|---:|---:|---:|---:|");
    let _ = writeln!(
        s,
        "| {} | {:.0} ms | {med:.0} ms | {lo:.0} – {hi:.0} ms | {:.0} ms | {:.1} ms |\n",
        l.factor,
        interval_ms,
        med - interval_ms,
        l.poll_ms
    );
    let _ = writeln!(
        s,
        "One record put into a fresh stream with its timer running, `SELECT count(*)` polled \
         every {} ms until it counts it ({} polls, {} failed). The record waits for the \
         buffer interval ({} s in the template, ×{} here); the rest is the timer's tick \
         (a quarter of the interval: up to {:.0} ms), the conversion and the poll. On AWS the same \
         buffering means an event becomes queryable about {} s after Firehose receives \
         it, plus Firehose's conversion and S3 delivery, which are not measured here.\n",
        POLL.as_millis(),
        l.polls,
        l.poll_errors,
        m.interval.as_secs(),
        l.factor,
        interval_ms / 4.0,
        m.interval.as_secs(),
    );
    s
}

// ---------------------------------------------------------------------------------------

async fn run(args: &Args, root: &Path) -> Result<String, String> {
    let lake = load_lake(root)?;
    let fixtures = fixtures(root)?;
    let raw = shop_events(&fixtures, args.events);
    // Routing is the bus's (the pattern benchmark measures it): each event's rule is
    // found before the timed steps.
    let events = raw
        .into_iter()
        .map(|e| {
            let rule = lake
                .rules
                .iter()
                .position(|(r, _)| r.compiled.matches(&e))
                .ok_or_else(|| format!("no lake rule matches {}", e["detail-type"]))?;
            Ok((e, rule))
        })
        .collect::<Result<Vec<_>, String>>()?;

    let mut mix = BTreeMap::new();
    for (e, _) in &events {
        *mix.entry(e["detail-type"].as_str().unwrap_or("?").to_owned())
            .or_insert(0) += 1;
    }
    let event_bytes: u64 = events.iter().map(|(e, _)| e.to_string().len() as u64).sum();

    let dir = root.join("target/bench/lake-run");
    let mut runs = Vec::new();
    let mut records = Vec::new();
    for i in 0..args.runs {
        eprintln!("run {}/{}: {} events", i + 1, args.runs, events.len());
        let (t, r) = through_stream(&lake, &events, &dir).await?;
        runs.push(t);
        records = r;
    }
    let ndjson_bytes: u64 = records.iter().map(|r| r.len() as u64 + 1).sum();

    let table = LakeTable::of(&lake.model, &dir)?;
    let partitions = count_partitions(&table.dir.join(table.data_prefix.trim_matches('/')));
    eprintln!("named queries over {}", table.dir.display());
    let queries = time_queries(&lake, &table)?;

    let factor = StackOptions::new(root).timing.factor();
    eprintln!("publish → queryable, delay scale {factor}");
    let latency = publish_to_queryable(
        &lake,
        &records,
        &root.join("target/bench/lake-latency"),
        factor,
    )
    .await?;

    let stream = lake
        .model
        .delivery_stream(&lake.stream_id)
        .ok_or_else(|| format!("no stream {}", lake.stream_id))?;
    let measured = Measured {
        events: events.len(),
        mix,
        partitions,
        runs,
        ndjson_bytes,
        event_bytes,
        queries,
        latency,
        interval: stream.buffer_interval,
        size_mb: stream.buffer_size_mb,
        stream_id: lake.stream_id.clone(),
        rules: lake.rules.len(),
    };
    Ok(render(&measured))
}

/// Directories holding Parquet files under `dir` (one per partition).
fn count_partitions(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    let mut here = false;
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            n += count_partitions(&p);
        } else if p.extension().is_some_and(|x| x == "parquet") {
            here = true;
        }
    }
    n + usize::from(here)
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lake: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args, &root)) {
        Ok(report) => {
            print!("{report}");
            if let Some(dir) = args.out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(&args.out, &report) {
                eprintln!("{}: {e}", args.out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("written to {}", args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("lake: {e}");
            ExitCode::FAILURE
        }
    }
}
