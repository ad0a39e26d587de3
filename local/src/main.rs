//! `eventmart-local up` runs the whole system; `eventmart-local demo` tells its story
//! and checks it. See `eventmart-local help`.

use eventmart_local::chaos::Chaos;
use eventmart_local::eventbridge::Timing;
use eventmart_local::log::LogMode;
use eventmart_local::stack::{
    LambdaBackend, LocalStack, SignInTarget, StackOptions, parse_aws_endpoint,
};
use std::process::ExitCode;
use std::time::Duration;

const HELP: &str = "\
eventmart-local: the whole Eventmart system on one machine, routed from template.yaml

USAGE: eventmart-local <up|demo|help> [OPTIONS]
       eventmart-local token --email E [--group G]... [--password P] [--access]
       eventmart-local sql [--lake DIR] [--template PATH] <\"SELECT ...\" | --named NAME>

  up      start everything, print the endpoints, run until Ctrl-C
  demo    start everything with duplicates and reordering on, tell the story, check
          that every effect happened exactly once (exit 1 if not), stop
  token   while `up` runs: sign a user up in its user pool (or reuse them), add them
          to the groups, sign in, and print the id token (--access: the access token);
          the password defaults to a local one
  sql     run SQL over the local warehouse, the Parquet files the last `up` or `demo`
          wrote under target/lake (--lake DIR: another copy), as the template's Glue
          table (e.g. eventmart_dev.events); --named NAME runs one of the template's
          Athena named queries

OPTIONS
  --template PATH      the SAM template (default: ./template.yaml)
  --param KEY=VALUE    a template parameter (repeatable)
  --release            run release builds of the functions (default: debug)
  --no-build           do not run cargo build first
  --http-port N        HTTP API port (default: any free port)
  --bus-port N         EventBridge API port (default: any free port)
  --duplicates F       deliver a fraction F of events 2..=--max-copies times (default 0; demo 0.3)
  --max-copies N       most copies of a duplicated delivery, 2..=10 (default 10; demo 5)
  --reorder-ms N       hold deliveries up to N ms and release them shuffled (default 0; demo 300)
  --kill F             kill a fraction F of invocations midway (default 0)
  --no-chaos           demo without duplicates and reordering
  --time-scale F       AWS's retry delays (EventBridge backoff from 1 s, Lambda's async
                       retries after 1 and 2 min) multiplied by F (default 0.01)
  --concurrency N      most instances per function (default 4)
  --lambda native|sam  what runs the functions: the native Runtime API (the binaries
                       cargo builds, default) or SAM CLI's local Lambda (`sam local
                       start-lambda` on the artifacts of `make build`, in Docker; needs
                       scripts/sam-local-setup.sh; --kill is native only)
  --aws URL            the AWS servers to use (http://host:port: a moto server you run,
                       or another that serves DynamoDB with Streams, SQS, SES v2,
                       Cognito and S3) instead of starting moto; tables left by an earlier run
                       are kept, and the server is left running at the end
  --quiet              no per-delivery lines
  --json               per-delivery lines as JSON
";

struct Args {
    command: String,
    options: StackOptions,
    no_chaos: bool,
    /// The chaos flags given; demo's defaults fill in the others.
    chaos_set: Vec<&'static str>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = argv.next().unwrap_or_else(|| "help".into());
    let root = std::env::current_dir().map_err(|e| e.to_string())?;
    let mut options = StackOptions::new(root);
    options.chaos.max_copies = 10;
    options.stack_name = "eventmart-local".into();
    let (mut no_chaos, mut chaos_set) = (false, Vec::new());
    while let Some(flag) = argv.next() {
        let mut value = |name: &str| argv.next().ok_or_else(|| format!("{name} needs a value"));
        let number = |name: &str, v: String| {
            v.parse::<f64>()
                .map_err(|_| format!("{name}: '{v}' is not a number"))
        };
        match flag.as_str() {
            "--template" => options.template = value("--template")?.into(),
            "--param" => {
                let kv = value("--param")?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("--param wants KEY=VALUE, got '{kv}'"))?;
                options.parameters.insert(k.into(), v.into());
            }
            "--release" => options.release = true,
            "--lambda" => options.lambda = LambdaBackend::parse(&value("--lambda")?)?,
            "--aws" => options.aws = Some(parse_aws_endpoint(&value("--aws")?)?),
            "--no-build" => options.build = false,
            "--http-port" => options
                .http_addr
                .set_port(number("--http-port", value("--http-port")?)? as u16),
            "--bus-port" => options
                .bus_addr
                .set_port(number("--bus-port", value("--bus-port")?)? as u16),
            "--duplicates" | "--max-copies" | "--reorder-ms" | "--kill" => {
                let v = number(&flag, value(&flag)?)?;
                chaos_set.push(set_chaos(&mut options.chaos, &flag, v));
            }
            "--time-scale" => {
                let f = number("--time-scale", value("--time-scale")?)?;
                if !(f > 0.0 && f <= 1000.0) {
                    return Err(format!("--time-scale is above 0 and at most 1000, got {f}"));
                }
                options.timing = Timing::aws().scaled(f);
            }
            "--concurrency" => {
                let n = number("--concurrency", value("--concurrency")?)?;
                if !(1.0..=64.0).contains(&n) || n.fract() != 0.0 {
                    return Err(format!(
                        "--concurrency is a whole number from 1 to 64, got {n}"
                    ));
                }
                options.max_instances = n as usize;
            }
            "--no-chaos" => no_chaos = true,
            "--quiet" => options.log = LogMode::Quiet,
            "--json" => options.log = LogMode::Json,
            other => return Err(format!("unknown option '{other}'")),
        }
    }
    check_chaos(&options.chaos)?;
    Ok(Args {
        command,
        options,
        no_chaos,
        chaos_set,
    })
}

/// Sets the chaos option a flag names; returns the flag's name.
fn set_chaos(chaos: &mut Chaos, flag: &str, v: f64) -> &'static str {
    match flag {
        "--duplicates" => {
            chaos.duplicate_fraction = v;
            "--duplicates"
        }
        "--max-copies" => {
            chaos.max_copies = v as u32;
            "--max-copies"
        }
        "--reorder-ms" => {
            chaos.reorder_window = Duration::from_millis(v as u64);
            "--reorder-ms"
        }
        _ => {
            chaos.kill_fraction = v;
            "--kill"
        }
    }
}

fn check_chaos(chaos: &Chaos) -> Result<(), String> {
    for f in [chaos.duplicate_fraction, chaos.kill_fraction] {
        if !(0.0..=1.0).contains(&f) {
            return Err(format!("fractions are between 0 and 1, got {f}"));
        }
    }
    if !(2..=10).contains(&chaos.max_copies) {
        return Err("--max-copies is from 2 to 10 (EventBridge's duplicates are few)".into());
    }
    Ok(())
}

/// Where `up` tells `token` how to reach its user pool.
const SIGN_IN_FILE: &str = "target/local/sign-in.json";

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("token") {
        return token(std::env::args().skip(2)).await;
    }
    if std::env::args().nth(1).as_deref() == Some("sql") {
        return sql(std::env::args().skip(2));
    }
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("eventmart-local: {e}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let mut args = args;
    args.options.lake_dir = Some(args.options.root.join(LAKE_DIR));
    match args.command.as_str() {
        "up" => up(args.options).await,
        "demo" => demo(args).await,
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("eventmart-local: unknown command '{other}'\n\n{HELP}");
            ExitCode::from(2)
        }
    }
}

async fn start(options: StackOptions) -> Option<LocalStack> {
    match LocalStack::start(options).await {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("eventmart-local: {e}");
            None
        }
    }
}

async fn up(options: StackOptions) -> ExitCode {
    let external_aws = options.aws.is_some();
    let Some(stack) = start(options).await else {
        return ExitCode::FAILURE;
    };
    // Written before anything is printed: whoever waits for the endpoints below can then
    // ask `token` for a token at once.
    let cognito = stack.sign_in_target().inspect(|target| {
        let written = serde_json::to_vec_pretty(target)
            .map_err(|e| e.to_string())
            .and_then(|json| std::fs::write(SIGN_IN_FILE, json).map_err(|e| e.to_string()));
        if let Err(err) = written {
            eprintln!("eventmart-local: writing {SIGN_IN_FILE}: {err}");
        }
    });
    let e = stack.endpoints();
    println!("Eventmart is up.");
    println!("  HTTP API     {}", e.http_api);
    println!("  dashboard    {}/dashboard", e.http_api);
    println!(
        "  EventBridge  {}   (aws events put-events --endpoint-url {0} ...)",
        e.eventbridge
    );
    let which = if external_aws {
        "--aws: DynamoDB, Streams, SQS, SES, Cognito, S3; left running"
    } else {
        "moto: DynamoDB, Streams, SQS, SES, Cognito, S3"
    };
    println!("  DynamoDB     {}   ({which})", e.moto);
    println!(
        "  warehouse    {}   (Parquet, a copy of the lake bucket; eventmart-local sql \"SELECT ...\")",
        stack.lake.dir.display()
    );
    if let Some(target) = cognito {
        println!(
            "  Cognito      {}   (pool {}, client {}); a token for curl:\n               \
             TOKEN=$(eventmart-local token --email you@example.com [--group warehouse|analysts])\n               \
             curl -H \"Authorization: Bearer $TOKEN\" {}/orders/...",
            target.cognito, target.user_pool_id, target.client_id, e.http_api
        );
    }
    if let Some(files) = stack.sam_files() {
        let args = eventmart_local::lambda::sam::common_args(files).join(" ");
        println!(
            "  Lambda       SAM's local Lambda (sam local start-lambda, the artifacts of sam build); \
             one function on a sample beside it:\n               \
             sam local invoke OrdersFunction --event events/orders/place-order.json {args}"
        );
    }
    println!("Ctrl-C stops everything.");
    let _ = tokio::signal::ctrl_c().await;
    println!("stopping");
    stack.shutdown().await;
    ExitCode::SUCCESS
}

async fn demo(args: Args) -> ExitCode {
    let mut options = args.options;
    if args.no_chaos {
        // No duplicates nor reordering; kills only if asked for.
        let kill_fraction = options.chaos.kill_fraction;
        options.chaos = Chaos::off();
        options.chaos.kill_fraction = kill_fraction;
    } else {
        // Demo's defaults for the chaos flags not given: `--kill 0.1` adds kills to the
        // duplicates and reordering rather than replacing them.
        let given = |f: &str| args.chaos_set.contains(&f);
        if !given("--duplicates") {
            options.chaos.duplicate_fraction = 0.3;
        }
        if !given("--max-copies") {
            options.chaos.max_copies = 5;
        }
        if !given("--reorder-ms") {
            options.chaos.reorder_window = Duration::from_millis(300);
        }
    }
    if options.log == LogMode::Human {
        options.log = LogMode::Quiet;
    }
    let chaos = options.chaos.clone();
    let Some(stack) = start(options).await else {
        return ExitCode::FAILURE;
    };
    println!(
        "chaos: {:.0}% of deliveries duplicated (up to {} copies), reordered within {:?}, {:.0}% of invocations killed",
        chaos.duplicate_fraction * 100.0,
        chaos.max_copies,
        chaos.reorder_window,
        chaos.kill_fraction * 100.0
    );
    let result = eventmart_local::eventmart::demo::run(&stack).await;
    let bus = stack.bus.counters();
    stack.shutdown().await;
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("demo failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("\nThe story");
    for line in &report.story {
        println!("  - {line}");
    }
    println!("\nWhat each consumer did (successful invocations, duplicates included)");
    for (target, by_type) in &report.consumers {
        let parts: Vec<String> = by_type.iter().map(|(t, n)| format!("{t} x{n}")).collect();
        println!("  {target:<24} {}", parts.join(", "));
    }
    println!(
        "  bus: {} events, {} deliveries, {} retried, {} dead-lettered",
        bus.events_accepted, bus.deliveries, bus.retried, bus.dead_lettered
    );
    println!("\nAnalytics summary\n  {}", report.summary);
    for (name, table) in &report.warehouse {
        println!("\nThe warehouse: {name} (make sql NAMED={name})");
        for line in table.lines() {
            println!("  {line}");
        }
    }
    println!("\nExactly once?");
    for c in &report.checks {
        let mark = if c.ok() { "ok  " } else { "FAIL" };
        println!(
            "  {mark} {}: expected {}, got {}",
            c.what, c.expected, c.actual
        );
    }
    if report.passed() {
        println!("\nEvery effect happened exactly once.");
        ExitCode::SUCCESS
    } else {
        println!("\nSome effects did not happen exactly once.");
        ExitCode::FAILURE
    }
}

/// Where `up` and `demo` keep the copy of the lake `sql` reads.
const LAKE_DIR: &str = "target/lake";

/// `sql`: a query, or a named query of the template, over the local lake.
fn sql(mut argv: impl Iterator<Item = String>) -> ExitCode {
    let usage = |e: &str| {
        eprintln!("eventmart-local sql: {e}\n\n{HELP}");
        ExitCode::from(2)
    };
    let (mut lake, mut template, mut named, mut text) = (
        std::path::PathBuf::from(LAKE_DIR),
        std::path::PathBuf::from("template.yaml"),
        None,
        None,
    );
    while let Some(arg) = argv.next() {
        match arg.as_str() {
            "--lake" | "--template" | "--named" => {
                let Some(v) = argv.next() else {
                    return usage(&format!("{arg} needs a value"));
                };
                match arg.as_str() {
                    "--lake" => lake = v.into(),
                    "--template" => template = v.into(),
                    _ => named = Some(v),
                }
            }
            flag if flag.starts_with("--") => return usage(&format!("unknown option {flag}")),
            _ if text.is_some() => return usage("give one query"),
            _ => text = Some(arg),
        }
    }
    let naming = eventmart_local::template::LocalNaming::new("http://127.0.0.1:0");
    let model =
        match eventmart_local::template::Stack::load(&template, &naming, &Default::default()) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("eventmart-local sql: {e}");
                return ExitCode::FAILURE;
            }
        };
    let query = match (named, text) {
        (Some(name), None) => match model.named_queries.iter().find(|q| q.name == name) {
            Some(q) => q.query.clone(),
            None => {
                let names: Vec<&str> = model
                    .named_queries
                    .iter()
                    .map(|q| q.name.as_str())
                    .collect();
                eprintln!(
                    "eventmart-local sql: the template has no named query {name:?} (it has: {})",
                    names.join(", ")
                );
                return ExitCode::from(2);
            }
        },
        (None, Some(q)) => q,
        _ => return usage("give a query or --named NAME, not both"),
    };
    match eventmart_local::firehose::LakeTable::of(&model, &lake).and_then(|l| {
        eventmart_local::warehouse::sql::query(&l.dir, &l.data_prefix, &l.schema, &query)
            .map_err(|e| e.to_string())
    }) {
        Ok(result) => {
            print!("{}", result.to_table());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventmart-local sql: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `token`: signs a user in to the running stack's pool and prints a token.
async fn token(mut argv: impl Iterator<Item = String>) -> ExitCode {
    let (mut email, mut groups, mut password, mut access) = (
        None,
        Vec::new(),
        eventmart_local::cognito::LOCAL_PASSWORD.to_owned(),
        false,
    );
    while let Some(flag) = argv.next() {
        if flag == "--access" {
            access = true;
            continue;
        }
        let (Some(value), true) = (
            argv.next(),
            ["--email", "--group", "--password"].contains(&flag.as_str()),
        ) else {
            eprintln!("eventmart-local token: '{flag}' is unknown or needs a value\n\n{HELP}");
            return ExitCode::from(2);
        };
        match flag.as_str() {
            "--email" => email = Some(value),
            "--group" => groups.push(value),
            _ => password = value,
        }
    }
    let Some(email) = email else {
        eprintln!("eventmart-local token: --email is required\n\n{HELP}");
        return ExitCode::from(2);
    };
    let target: SignInTarget = match std::fs::read(SIGN_IN_FILE)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "eventmart-local token: {SIGN_IN_FILE}: {e} (is `eventmart-local up` running here?)"
            );
            return ExitCode::FAILURE;
        }
    };
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    match target.sign_in(&email, &password, &groups).await {
        Ok(t) => {
            println!("{}", if access { t.access_token } else { t.id_token });
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("eventmart-local token: {e}");
            ExitCode::FAILURE
        }
    }
}
