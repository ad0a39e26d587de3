//! Eventmart's cold-start and memory benchmark (issue 5).
//!
//! `eventmart-bench cold-start [--runs N] [--invocations M] [--release] [--out PATH]`
//!
//! Every function of the workspace, a bare `lambda_runtime` "hello" binary and a Python
//! consumer (boto3 clients for DynamoDB and EventBridge) are started the same way, by the
//! local stack's Lambda Runtime API (`eventmart_local::lambda`), in the same run:
//! - cold start: N times each, a fresh [`Runtime`] per start, interleaved round by round
//!   so that drift of the machine hits every subject alike; the figure is the report's
//!   init duration (spawn until the process first polls for an invocation);
//! - memory: M invocations of each on one warm instance; the figure is the largest max
//!   RSS (`VmHWM`) the reports saw.
//!
//! Nothing leaves the machine: every AWS endpoint is an unused loopback port and the SDKs
//! make one attempt, so an invocation that reaches AWS fails at once (a function error;
//! the instance stays warm). Init makes no AWS call.

mod machine;
use machine::machine;

use eventmart_local::lambda::{FunctionSpec, InvocationReport, Outcome, Runtime, RuntimeOptions};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str =
    "usage: eventmart-bench cold-start [--runs N] [--invocations M] [--release] [--out PATH]";
const HELLO: &str = "hello";
const PYTHON: &str = "python-consumer";
/// An endpoint where nothing listens: whatever reaches for AWS fails at once, locally.
const NOWHERE: &str = "http://127.0.0.1:9";
/// The targets.
const TARGET_VS_HELLO: f64 = 1.5;
const TARGET_VS_PYTHON: f64 = 1.0 / 8.0;
const TARGET_RSS_MB: f64 = 20.0;

/// (subject, binary under target/<profile>/ or a path from the root, sample payload)
const SUBJECTS: &[(&str, &str, &str)] = &[
    ("orders", "orders", "events/orders/place-order.json"),
    (
        "memberships",
        "memberships",
        "events/memberships/sign-up.json",
    ),
    (
        "outbox-relay",
        "outbox-relay",
        "events/outbox-relay/stream-batch.json",
    ),
    (
        "fulfillment",
        "fulfillment",
        "events/eventbridge/OrderPlaced.json",
    ),
    (
        "notifications",
        "notifications",
        "events/eventbridge/MembershipCanceled.json",
    ),
    (
        "ingestion",
        "ingestion",
        "events/eventbridge/OrderPlaced.json",
    ),
    ("analytics", "analytics", "events/analytics/summary.json"),
    (HELLO, "hello", "events/eventbridge/OrderPlaced.json"),
    (
        PYTHON,
        "bench/python/bootstrap",
        "events/eventbridge/OrderPlaced.json",
    ),
];

struct Args {
    runs: usize,
    invocations: usize,
    release: bool,
    out: PathBuf,
}

fn parse_args(root: &Path) -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    match it.next().as_deref() {
        Some("cold-start") => {}
        Some(other) => return Err(format!("unknown subcommand {other:?}\n{USAGE}")),
        None => return Err(USAGE.to_owned()),
    }
    let mut args = Args {
        runs: 20,
        invocations: 1000,
        release: false,
        out: root.join("target/bench/cold-start.md"),
    };
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--runs" => args.runs = number(&flag, &value()?)?,
            "--invocations" => args.invocations = number(&flag, &value()?)?,
            "--out" => args.out = PathBuf::from(value()?),
            "--release" => args.release = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

fn number(flag: &str, v: &str) -> Result<usize, String> {
    match v.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{flag} takes a positive whole number, not {v:?}")),
    }
}

struct Subject {
    name: &'static str,
    spec: FunctionSpec,
    payload: Value,
}

fn subjects(root: &Path, profile: &str) -> Result<Vec<Subject>, String> {
    let mut env = BTreeMap::new();
    for (k, v) in [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_ENDPOINT_URL", NOWHERE),
        ("AWS_MAX_ATTEMPTS", "1"),
        ("AWS_RETRY_MODE", "standard"),
        ("IDEMPOTENCY_TABLE", "bench-idempotency"),
        ("ORDERS_TABLE", "bench-orders"),
        ("MEMBERSHIPS_TABLE", "bench-memberships"),
        ("MEMBER_VIEW_TABLE", "bench-member-view"),
        ("FULFILLMENT_TABLE", "bench-fulfillment"),
        ("NOTIFICATIONS_TABLE", "bench-notifications"),
        ("ANALYTICS_EVENTS_TABLE", "bench-analytics-events"),
        ("ANALYTICS_DAILY_TABLE", "bench-analytics-daily"),
        ("EVENT_BUS_NAME", "bench-bus"),
        (
            "DEAD_LETTER_QUEUE_URL",
            "http://127.0.0.1:9/123456789012/bench-dlq",
        ),
        ("SENDER_EMAIL", "bench@example.com"),
        ("COGNITO_ENDPOINT", "http://127.0.0.1:9/"),
        ("USER_POOL_ID", "us-east-1_bench"),
        ("USER_POOL_CLIENT_ID", "benchclient"),
        ("RUST_LOG", "warn"),
        ("POWERTOOLS_LOG_LEVEL", "WARN"),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    SUBJECTS
        .iter()
        .map(|&(name, binary, payload)| {
            let binary = if binary.contains('/') {
                root.join(binary)
            } else {
                root.join("target").join(profile).join(binary)
            };
            let text = std::fs::read_to_string(root.join(payload))
                .map_err(|e| format!("{payload}: {e}"))?;
            let payload = serde_json::from_str(&text).map_err(|e| format!("{payload}: {e}"))?;
            let mut spec = FunctionSpec::new(name, binary);
            spec.env = env.clone();
            spec.timeout = Duration::from_secs(10);
            Ok(Subject {
                name,
                spec,
                payload,
            })
        })
        .collect()
}

fn options(max_instances: usize) -> RuntimeOptions {
    RuntimeOptions {
        max_instances_per_function: max_instances,
        // The functions' own output is not part of the benchmark.
        function_logs: Some(Arc::new(|_: &str, _: &str| {})),
        ..RuntimeOptions::default()
    }
}

/// One cold start: a fresh runtime, one invocation, the init duration of its report.
async fn cold_start(s: &Subject) -> Result<Duration, String> {
    let runtime = Runtime::start(vec![s.spec.clone()], options(1))
        .await
        .map_err(|e| e.to_string())?;
    let _ = runtime.invoke(s.name, s.payload.clone()).await;
    let reports = runtime.reports();
    runtime.shutdown().await;
    let report = reports
        .iter()
        .find(|r| r.cold)
        .ok_or_else(|| format!("{}: no cold report", s.name))?;
    report
        .init_duration
        .ok_or_else(|| format!("{}: did not start: {}", s.name, report.outcome))
}

struct Memory {
    max_rss_kb: Option<u64>,
    successes: usize,
    failures: usize,
    instances: usize,
    first_failure: Option<String>,
}

/// M invocations on one instance (another starts only if one dies).
async fn memory(s: &Subject, invocations: usize) -> Result<Memory, String> {
    let runtime = Runtime::start(vec![s.spec.clone()], options(1))
        .await
        .map_err(|e| e.to_string())?;
    let mut reports: Vec<InvocationReport> = Vec::with_capacity(invocations);
    let mut rx = runtime.subscribe();
    for _ in 0..invocations {
        let _ = runtime.invoke(s.name, s.payload.clone()).await;
        while let Ok(r) = rx.try_recv() {
            reports.push(r);
        }
    }
    runtime.shutdown().await;
    while let Ok(r) = rx.try_recv() {
        reports.push(r);
    }
    Ok(Memory {
        max_rss_kb: reports.iter().filter_map(|r| r.max_rss_kb).max(),
        successes: reports.iter().filter(|r| r.outcome.is_success()).count(),
        failures: reports.iter().filter(|r| !r.outcome.is_success()).count(),
        instances: reports.iter().filter(|r| r.cold).count(),
        first_failure: reports.iter().find_map(|r| match &r.outcome {
            Outcome::Success => None,
            Outcome::Failed(e) => Some(e.to_string()),
        }),
    })
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

struct Row {
    name: &'static str,
    median_ms: f64,
    p95_ms: f64,
    memory: Memory,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

fn render(args: &Args, rows: &[Row]) -> String {
    let find = |n: &str| rows.iter().find(|r| r.name == n).map(|r| r.median_ms);
    let hello = find(HELLO).unwrap_or(f64::NAN);
    let python = find(PYTHON).unwrap_or(f64::NAN);
    let profile = if args.release { "release" } else { "debug" };
    let mut s = String::new();
    let _ = writeln!(s, "# Cold start and memory\n");
    let _ = writeln!(s, "- machine: {}", machine());
    let _ = writeln!(
        s,
        "- binaries: `target/{profile}`; {} cold starts per subject (a fresh Runtime each, \
         interleaved); {} invocations per subject on one warm instance for memory",
        args.runs, args.invocations
    );
    let _ = writeln!(
        s,
        "- init = spawn until the first poll of the Runtime API (the report's init duration); \
         ratios are of medians measured in this run\n"
    );
    let _ = writeln!(
        s,
        "| function | median init ms | p95 init ms | ratio to hello | ratio to python | max RSS MB | \
         targets (<= {TARGET_VS_HELLO}x hello, <= 1/8 python, <= {TARGET_RSS_MB} MB) |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: | --- |");
    for r in rows {
        let vs_hello = r.median_ms / hello;
        let vs_python = r.median_ms / python;
        let rss_mb = r.memory.max_rss_kb.map(|kb| kb as f64 / 1024.0);
        let targets = if r.name == HELLO || r.name == PYTHON {
            "baseline".to_owned()
        } else {
            format!(
                "{} / {} / {}",
                verdict(vs_hello <= TARGET_VS_HELLO),
                verdict(vs_python <= TARGET_VS_PYTHON),
                verdict(rss_mb.is_some_and(|mb| mb <= TARGET_RSS_MB))
            )
        };
        let _ = writeln!(
            s,
            "| {} | {:.2} | {:.2} | {:.2}x | {:.3} (1/{:.1}) | {} | {} |",
            r.name,
            r.median_ms,
            r.p95_ms,
            vs_hello,
            vs_python,
            1.0 / vs_python,
            rss_mb.map_or("?".to_owned(), |mb| format!("{mb:.1}")),
            targets
        );
    }
    let _ = writeln!(
        s,
        "\nMemory run (invocations fail at AWS's unused endpoint unless the function needs no AWS call):\n"
    );
    let _ = writeln!(
        s,
        "| function | successes | function errors | instances started | first error |"
    );
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | --- |");
    for r in rows {
        let m = &r.memory;
        let first = m
            .first_failure
            .as_deref()
            .map(|e| {
                // Drop the Rust error's type-name prefix (`&alloc::boxed::Box<dyn ...>: `).
                let e = e.rsplit(">: ").next().unwrap_or(e);
                e.chars().take(90).collect::<String>().replace('|', "/")
            })
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.name, m.successes, m.failures, m.instances, first
        );
    }
    s
}

async fn run(args: Args, root: &Path) -> Result<String, String> {
    let profile = if args.release { "release" } else { "debug" };
    let subjects = subjects(root, profile)?;
    let mut inits: Vec<Vec<f64>> = vec![Vec::with_capacity(args.runs); subjects.len()];
    for round in 1..=args.runs {
        eprintln!("cold starts: round {round}/{}", args.runs);
        for (i, s) in subjects.iter().enumerate() {
            let init = cold_start(s).await?;
            inits[i].push(init.as_secs_f64() * 1000.0);
        }
    }
    let mut rows = vec![];
    for (s, mut ms) in subjects.iter().zip(inits) {
        eprintln!("memory: {} x {}", s.name, args.invocations);
        let memory = memory(s, args.invocations).await?;
        ms.sort_by(f64::total_cmp);
        rows.push(Row {
            name: s.name,
            median_ms: median(&ms),
            p95_ms: percentile(&ms, 0.95),
            memory,
        });
    }
    Ok(render(&args, &rows))
}

#[tokio::main]
async fn main() -> ExitCode {
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
    let out = args.out.clone();
    match run(args, &root).await {
        Ok(table) => {
            print!("{table}");
            if let Some(dir) = out.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if let Err(e) = std::fs::write(&out, &table) {
                eprintln!("{}: {e}", out.display());
                return ExitCode::FAILURE;
            }
            eprintln!("written to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventmart-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_nearest_rank_p95() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(median(&v), 10.5);
        assert_eq!(percentile(&v, 0.95), 19.0);
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
        assert_eq!(percentile(&[1.0, 2.0], 0.95), 2.0);
    }
}
