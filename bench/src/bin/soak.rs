//! Eventmart's reliability suite and scaling benchmark (issue 5), through the whole local
//! stack with the real function binaries.
//!
//! `soak [--orders N] [--release] [--out PATH] [--only SCENARIO]...`: one fresh stack per
//! scenario — duplicate storm, reordering, crashes, DynamoDB outage — each running the
//! same workload (`eventmart_local::eventmart::load`) and checking that every effect happened
//! exactly once; exit 1 if any check fails.
//!
//! `scale [--orders N,N,...] [--release] [--out PATH]`: the workload without chaos at
//! each size: orders per second, memory, and the AWS requests each function made per
//! event it handled (counted by the stack's proxy in front of moto).

use eventmart_local::chaos::Chaos;
use eventmart_local::eventbridge::Timing;
use eventmart_local::eventmart::load::{self, Outage, Workload};
use eventmart_local::log::LogMode;
use eventmart_local::stack::{LambdaBackend, LocalStack, StackOptions};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "usage: soak soak [--orders N] [--only storm|reorder|crashes|outage]... [--release] [--lambda native|sam] [--out PATH]
       soak scale [--orders N,N,...] [--release] [--lambda native|sam] [--out PATH]
  --lambda sam runs the functions under SAM's local Lambda (sam build's artifacts); the
  crashes scenario kills instances midway, which only the native runtime can do";

struct Args {
    command: String,
    orders: Vec<usize>,
    only: Vec<String>,
    release: bool,
    out: Option<PathBuf>,
    outage_secs: u64,
    lambda: LambdaBackend,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let command = it.next().ok_or(USAGE)?;
    if !matches!(command.as_str(), "soak" | "scale") {
        return Err(USAGE.into());
    }
    let mut a = Args {
        command,
        orders: vec![],
        only: vec![],
        release: false,
        out: None,
        outage_secs: 30,
        lambda: LambdaBackend::Native,
    };
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--orders" => {
                a.orders = value()?
                    .split(',')
                    .map(|n| n.trim().parse().map_err(|_| format!("--orders: {n:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--only" => a.only.push(value()?),
            "--outage-secs" => {
                a.outage_secs = value()?
                    .parse()
                    .map_err(|_| "--outage-secs: a number of seconds")?
            }
            "--release" => a.release = true,
            "--lambda" => a.lambda = LambdaBackend::parse(&value()?)?,
            "--out" => a.out = Some(value()?.into()),
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

struct Scenario {
    name: &'static str,
    what: String,
    chaos: Chaos,
    timing: Timing,
    outage: Option<Outage>,
}

fn scenarios(outage_secs: u64) -> Vec<Scenario> {
    let off = Chaos::off();
    vec![
        Scenario {
            name: "storm",
            what: "every delivery made 2 to 10 times, concurrently".into(),
            chaos: Chaos {
                duplicate_fraction: 1.0,
                max_copies: 10,
                ..off.clone()
            },
            timing: Timing::aws().scaled(0.01),
            outage: None,
        },
        Scenario {
            name: "reorder",
            what: "every delivery held up to 2 s and released shuffled".into(),
            chaos: Chaos {
                reorder_window: Duration::from_secs(2),
                ..off.clone()
            },
            timing: Timing::aws().scaled(0.01),
            outage: None,
        },
        Scenario {
            name: "crashes",
            what: "10% of invocations killed midway, 30% of deliveries duplicated".into(),
            chaos: Chaos {
                kill_fraction: 0.1,
                duplicate_fraction: 0.3,
                max_copies: 4,
                ..off.clone()
            },
            timing: Timing::aws().scaled(0.01),
            outage: None,
        },
        Scenario {
            name: "outage",
            what: format!(
                "DynamoDB (tables and streams) answers 503 to every caller for {outage_secs} s, from 3 s into the run; AWS's own retry delays"
            ),
            chaos: off,
            // Lambda's async retries come 1 and 2 minutes after a failure, as on AWS: the
            // scaled-down delays would spend them inside the outage.
            timing: Timing::aws(),
            outage: Some(Outage {
                after: Duration::from_secs(3),
                length: Duration::from_secs(outage_secs),
            }),
        },
    ]
}

async fn start(args: &Args, chaos: Chaos, timing: Timing) -> Result<LocalStack, String> {
    let mut o = StackOptions::new(root());
    o.chaos = chaos;
    o.timing = timing;
    o.release = args.release;
    o.build = false;
    o.log = LogMode::Quiet;
    o.lambda = args.lambda;
    LocalStack::start(o)
        .await
        .map_err(|e| format!("stack did not start: {e}"))
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or("?".into(), |kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0));
    format!(
        "{cores} cores ({cpu}), {mem} memory, {}",
        std::env::consts::ARCH
    )
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or("?".into(), |k| format!("{:.0}", k as f64 / 1024.0))
}

fn workload(orders: usize, outage: Option<Outage>) -> Workload {
    Workload {
        orders,
        memberships: orders.div_ceil(10),
        concurrency: 16,
        outage,
    }
}

async fn soak(args: &Args, md: &mut String) -> Result<bool, String> {
    let orders = args.orders.first().copied().unwrap_or(3500);
    let mut all_passed = true;
    let _ = writeln!(
        md,
        "# Reliability run\n\nMachine: {}. Functions: {} builds. Workload per scenario: {orders} orders \
         (20% canceled at once, 30% shipped, 10% canceled then shipped) and {} memberships (half canceled), \
         16 concurrent clients.\n",
        machine(),
        if args.release { "release" } else { "debug" },
        orders.div_ceil(10)
    );
    for s in scenarios(args.outage_secs) {
        if !args.only.is_empty() && !args.only.iter().any(|o| o == s.name) {
            continue;
        }
        eprintln!("soak: {} ({})", s.name, s.what);
        let stack = start(args, s.chaos.clone(), s.timing.clone()).await?;
        let result = load::run(&stack, &workload(orders, s.outage)).await;
        stack.shutdown().await;
        let out = result.map_err(|e| format!("{}: {e}", s.name))?;
        let f = &out.figures;
        let passed = out.passed();
        all_passed &= passed;
        let _ = writeln!(
            md,
            "## {} — {}\n\n{} events ({} PutEvents entries accepted), {} deliveries ({} retried), {} warehouse rows, {:.1} s in all; \
             SES accepted {} emails for {} expected{}; moto peak RSS {} MB, local stack {} MB.\n",
            s.name,
            s.what,
            f.events,
            f.bus_entries_accepted,
            f.deliveries,
            f.delivery_retries,
            f.lake_rows,
            f.total_time.as_secs_f64(),
            f.ses_sent,
            f.emails_expected,
            if f.refused_by_outage > 0 {
                format!(
                    "; {} DynamoDB requests refused by the outage; {} emails sent whose record write outlasted the invocation",
                    f.refused_by_outage, f.emails_unrecorded
                )
            } else {
                String::new()
            },
            mb(f.moto_max_rss_kb),
            mb(f.stack_max_rss_kb),
        );
        let _ = writeln!(
            md,
            "| check | expected | actual | |\n| --- | --- | --- | --- |"
        );
        for c in &out.checks {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                c.what,
                c.expected,
                c.actual,
                if c.ok() { "ok" } else { "**FAILED**" }
            );
        }
        if !out.dead_letters.is_empty() {
            let _ = writeln!(md, "\nDead-letter messages, one by one:\n");
            for d in &out.dead_letters {
                let _ = writeln!(md, "- `{}`: {}", d.queue, d.reason);
            }
        }
        let _ = writeln!(md);
        eprintln!(
            "soak: {} {}",
            s.name,
            if passed { "passed" } else { "FAILED" }
        );
    }
    Ok(all_passed)
}

async fn scale(args: &Args, md: &mut String) -> Result<bool, String> {
    let sizes = if args.orders.is_empty() {
        vec![1000, 10000]
    } else {
        args.orders.clone()
    };
    let _ = writeln!(
        md,
        "# Scaling run\n\nMachine: {}. Functions: {} builds; no chaos; 16 concurrent clients; memberships = orders / 10.\n",
        machine(),
        if args.release { "release" } else { "debug" }
    );
    let _ = writeln!(
        md,
        "| orders | events | accepted orders/s | orders/s end to end | total s | moto peak RSS MB | local stack peak RSS MB | checks |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let mut all_passed = true;
    let mut costs = String::new();
    for n in sizes {
        eprintln!("scale: {n} orders");
        let stack = start(args, Chaos::off(), Timing::aws().scaled(0.01)).await?;
        let result = load::run(&stack, &workload(n, None)).await;
        stack.shutdown().await;
        let out = result.map_err(|e| format!("{n} orders: {e}"))?;
        let f = &out.figures;
        all_passed &= out.passed();
        let failed: Vec<_> = out.checks.iter().filter(|c| !c.ok()).collect();
        let _ = writeln!(
            md,
            "| {n} | {} | {:.1} | {:.1} | {:.1} | {} | {} | {} |",
            f.events,
            n as f64 / f.accept_time.as_secs_f64(),
            n as f64 / f.total_time.as_secs_f64(),
            f.total_time.as_secs_f64(),
            mb(f.moto_max_rss_kb),
            mb(f.stack_max_rss_kb),
            if failed.is_empty() {
                "all exact".to_owned()
            } else {
                format!("{} FAILED: {}", failed.len(), failed[0].what)
            }
        );
        costs = cost_table(&out.figures, n);
    }
    let _ = writeln!(md, "\n{costs}");
    Ok(all_passed)
}

/// AWS requests per unit of work, per caller and operation: what a business event costs.
fn cost_table(f: &load::Figures, orders: usize) -> String {
    let mut per: BTreeMap<&str, BTreeMap<String, u64>> = BTreeMap::new();
    for ((caller, service, op), n) in &f.cost_requests {
        *per.entry(caller.as_str())
            .or_default()
            .entry(format!("{service} {op}"))
            .or_default() += n;
    }
    let mut md = format!(
        "AWS requests per unit of work, counted by the stack's proxy in front of moto ({orders} orders, \
         no chaos, taken once every order and membership was accepted and its events delivered):\n\n\
         | caller | unit | units | requests per unit, by operation | all per unit |\n| --- | --- | ---: | --- | ---: |\n"
    );
    for (caller, ops) in per {
        let Some((unit, units)) = f.cost_units.get(caller).filter(|(_, n)| *n > 0) else {
            continue;
        };
        let units = *units as f64;
        let detail = ops
            .iter()
            .map(|(op, n)| format!("{op} {:.2}", *n as f64 / units))
            .collect::<Vec<_>>()
            .join(", ");
        let all: u64 = ops.values().sum();
        let _ = writeln!(
            md,
            "| {caller} | {unit} | {units} | {detail} | {:.2} |",
            all as f64 / units
        );
    }
    md
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut md = String::new();
    let result = if args.command == "soak" {
        soak(&args, &mut md).await
    } else {
        scale(&args, &mut md).await
    };
    print!("{md}");
    if let Some(path) = &args.out {
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        if let Err(e) = std::fs::write(path, &md) {
            eprintln!("writing {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("some effect did not happen exactly once (see the checks above)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
