//! End to end through the local stack: the real function binaries behind the Runtime
//! API, moto for DynamoDB, Streams, SQS and SES, the bus routing by template.yaml.

use eventmart_local::chaos::Chaos;
use eventmart_local::log::LogMode;
use eventmart_local::stack::{LocalStack, StackError, StackOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod support;
use support::cdp::Browser;
use support::{fixture, root};

fn options(chaos: Chaos) -> StackOptions {
    let mut o = StackOptions::new(root());
    o.chaos = chaos;
    o.log = LogMode::Quiet;
    o
}

fn storm() -> Chaos {
    Chaos {
        duplicate_fraction: 0.5,
        max_copies: 10,
        reorder_window: Duration::from_millis(300),
        kill_fraction: 0.0,
    }
}

async fn start(o: StackOptions) -> LocalStack {
    LocalStack::start(o)
        .await
        .unwrap_or_else(|e| panic!("stack did not start: {e}"))
}

fn assert_passed(report: &eventmart_local::eventmart::demo::Report) {
    let failed: Vec<String> = report
        .checks
        .iter()
        .filter(|c| !c.ok())
        .map(|c| format!("{}: expected {}, got {}", c.what, c.expected, c.actual))
        .collect();
    assert!(
        failed.is_empty(),
        "effects not exactly once:\n{}",
        failed.join("\n")
    );
    assert!(report.checks.len() >= 10, "the demo checks every effect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_story_happens_exactly_once_under_duplicates_and_reordering() {
    let stack = start(options(storm())).await;
    let report = eventmart_local::eventmart::demo::run(&stack)
        .await
        .expect("demo ran");
    let duplicated = stack.bus.counters().deliveries
        > stack
            .bus
            .delivery_log()
            .iter()
            .map(|d| (&d.event_id, &d.target))
            .collect::<std::collections::BTreeSet<_>>()
            .len() as u64;
    stack.shutdown().await;
    assert_passed(&report);
    assert!(duplicated, "chaos duplicated some deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_invocations_are_retried_and_nothing_is_lost_or_doubled() {
    let mut chaos = storm();
    chaos.kill_fraction = 0.1;
    let stack = start(options(chaos)).await;
    let report = eventmart_local::eventmart::demo::run(&stack)
        .await
        .expect("demo ran");
    stack.shutdown().await;
    assert_passed(&report);
}

/// `aws events <args> --endpoint-url <bus>`: the AWS CLI against the local bus.
fn aws_events(bus: &str, args: &[&str]) -> Value {
    let out = std::process::Command::new(root().join(".venv/bin/aws"))
        .arg("events")
        .args(args)
        .args([
            "--endpoint-url",
            bus,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .expect("the AWS CLI runs");
    assert!(
        out.status.success(),
        "aws events {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON from the CLI")
}

/// `aws events put-events` with the repository's entries files.
fn put_events(bus: &str, entries: &Path) -> Value {
    let file = format!("file://{}", entries.display());
    aws_events(bus, &["put-events", "--entries", &file])
}

async fn item(stack: &LocalStack, table: &str, pk: &str) -> bool {
    let name = stack
        .model
        .tables
        .iter()
        .find(|t| t.logical_id == table)
        .map(|t| t.name.clone())
        .unwrap();
    aws_sdk_dynamodb::Client::new(&stack.sdk)
        .get_item()
        .table_name(name)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_aws_cli_puts_events_that_reach_the_right_consumers_and_bad_ones_reach_dead_letter_queues()
 {
    let stack = start(options(Chaos::off())).await;
    let bus = stack.endpoints().eventbridge;
    let signed_up = root().join("events/entries/MembershipSignedUp.json");
    let out = put_events(&bus, &signed_up);
    assert_eq!(out["FailedEntryCount"], 0, "{out}");

    // An OrderPlaced whose email is not an address: every consumer of OrderPlaced must
    // dead-letter it with the reason, and lose nothing else.
    let entries = fixture("events/entries/OrderPlaced.json");
    let mut bad = entries.clone();
    let mut detail: Value = serde_json::from_str(bad[0]["Detail"].as_str().unwrap()).unwrap();
    detail["data"]["email"] = "not-an-address".into();
    bad[0]["Detail"] = detail.to_string().into();
    let bad_file = std::env::temp_dir().join(format!("bad-order-{}.json", std::process::id()));
    std::fs::write(&bad_file, bad.to_string()).unwrap();
    let out = put_events(&bus, &bad_file);
    assert_eq!(out["FailedEntryCount"], 0, "{out}");
    stack.settle().await;

    let event_id = "0193b3a4-aaaa-7000-8000-000000000003";
    assert!(
        item(&stack, "NotificationsTable", &format!("MESSAGE#{event_id}")).await,
        "welcome email recorded"
    );
    assert!(
        item(&stack, "AnalyticsEventsTable", &format!("EVENT#{event_id}")).await,
        "ingested"
    );
    let log = stack.bus.delivery_log();
    let targets: std::collections::BTreeSet<&str> = log
        .iter()
        .filter(|d| d.detail_type == "MembershipSignedUp")
        .map(|d| d.target.as_str())
        .collect();
    // Orders keeps its member view from the same event; the lake's stream gets it too.
    assert_eq!(
        targets,
        [
            "IngestionFunction",
            "NotificationsFunction",
            "OrdersFunction",
            "eventmart-dev-lake"
        ]
        .into_iter()
        .collect()
    );

    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    for (function, queue) in [
        ("fulfillment", "FulfillmentDLQ"),
        ("notifications", "NotificationsDLQ"),
        ("ingestion", "IngestionDLQ"),
    ] {
        let url = stack
            .model
            .queues
            .iter()
            .find(|q| q.logical_id == queue)
            .unwrap()
            .url
            .clone();
        let got = sqs
            .receive_message()
            .queue_url(&url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let bodies: Vec<Value> = got
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
            .collect();
        assert_eq!(bodies.len(), 1, "{queue}: {bodies:?}");
        assert_eq!(bodies[0]["function"], function);
        assert!(
            bodies[0]["reason"]
                .as_str()
                .unwrap()
                .contains("detail.data.email"),
            "{queue}: {}",
            bodies[0]
        );
    }

    // Replaying the archive with the AWS CLI reaches the consumers again, and their
    // idempotency keeps every effect single: still one email.
    let emails = eventmart_local::eventmart::demo::ses_sent(&stack.endpoints().moto)
        .await
        .unwrap();
    assert_eq!(emails, 1, "the welcome email; the bad order sends none");
    let archives = aws_events(&bus, &["list-archives"]);
    let archive = archives["Archives"][0]["ArchiveName"].as_str().unwrap();
    assert!(archives["Archives"][0]["EventCount"].as_u64() >= Some(2));
    let described = aws_events(&bus, &["describe-archive", "--archive-name", archive]);
    let bus_arn = archives["Archives"][0]["EventSourceArn"].as_str().unwrap();
    let now = chrono::Utc::now();
    let (from, to) = (
        (now - chrono::Duration::hours(1)).to_rfc3339(),
        (now + chrono::Duration::minutes(1)).to_rfc3339(),
    );
    let started = aws_events(
        &bus,
        &[
            "start-replay",
            "--replay-name",
            "e2e-replay",
            "--event-source-arn",
            described["ArchiveArn"].as_str().unwrap(),
            "--event-start-time",
            &from,
            "--event-end-time",
            &to,
            "--destination",
            &format!("Arn={bus_arn}"),
        ],
    );
    assert_eq!(started["State"], "COMPLETED", "{started}");
    stack.settle().await;
    let log = stack.bus.delivery_log();
    let replayed: std::collections::BTreeSet<&str> = log
        .iter()
        .filter(|d| {
            d.replay.as_deref() == Some("e2e-replay") && d.detail_type == "MembershipSignedUp"
        })
        .map(|d| d.target.as_str())
        .collect();
    assert_eq!(
        replayed,
        [
            "IngestionFunction",
            "NotificationsFunction",
            "OrdersFunction",
            "eventmart-dev-lake"
        ]
        .into_iter()
        .collect(),
        "the replay reached the same consumers"
    );
    let replay = aws_events(&bus, &["describe-replay", "--replay-name", "e2e-replay"]);
    assert_eq!(replay["State"], "COMPLETED");
    assert_eq!(
        eventmart_local::eventmart::demo::ses_sent(&stack.endpoints().moto)
            .await
            .unwrap(),
        1,
        "the replayed signup was recognised as a duplicate"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_consumer_that_keeps_failing_ends_in_its_on_failure_queue_and_nothing_else_is_lost() {
    let stack = start(options(Chaos::off())).await;
    // SES answers 503 to everyone: notifications fails on every attempt.
    stack.aws.switch().set_down("ses", true);
    let bus = stack.endpoints().eventbridge;
    let out = put_events(&bus, &root().join("events/entries/MembershipSignedUp.json"));
    assert_eq!(out["FailedEntryCount"], 0, "{out}");
    stack.settle().await;

    let event_id = "0193b3a4-aaaa-7000-8000-000000000003";
    assert!(
        item(&stack, "AnalyticsEventsTable", &format!("EVENT#{event_id}")).await,
        "ingestion is not held up by notifications' failures"
    );
    assert!(
        !item(&stack, "NotificationsTable", &format!("MESSAGE#{event_id}")).await,
        "no email went out"
    );
    let attempts = stack
        .bus
        .delivery_log()
        .iter()
        .filter(|d| d.target == "NotificationsFunction")
        .count();
    assert_eq!(
        attempts, 3,
        "the first invocation and Lambda's 2 async retries"
    );

    // SES is back; the operator takes the on-failure queue's message and redrives it.
    stack.aws.switch().set_down("ses", false);
    let (redriven, failed) = eventmart_local::eventmart::load::redrive(&stack)
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(redriven.len(), 1, "only notifications' event: {redriven:?}");
    let dead = &redriven[0];
    assert_eq!(
        (dead.queue.as_str(), dead.function.as_str()),
        ("NotificationsDLQ", "NotificationsFunction")
    );
    let body: Value = serde_json::from_str(&dead.body).unwrap();
    assert_eq!(body["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(body["requestContext"]["approximateInvokeCount"], 3);
    assert_eq!(dead.event["detail"]["metadata"]["eventId"], event_id);
    assert!(!dead.reason.is_empty(), "the error is recorded: {body}");
    stack.settle().await;
    assert!(
        item(&stack, "NotificationsTable", &format!("MESSAGE#{event_id}")).await,
        "the redriven event sent its email"
    );
    assert_eq!(
        eventmart_local::eventmart::demo::ses_sent(&stack.endpoints().moto)
            .await
            .unwrap(),
        1
    );
    stack.shutdown().await;
}

fn write_template(name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = std::fs::read_to_string(root().join("template.yaml")).unwrap();
    let path = std::env::temp_dir().join(format!("{name}-{}.yaml", std::process::id()));
    std::fs::write(&path, edit(text)).unwrap();
    path
}

#[tokio::test]
async fn a_template_with_an_invalid_pattern_or_an_unsupported_property_fails_at_start() {
    let bad_pattern = write_template("bad-pattern", |t| {
        t.replacen(
            "detail-type: [OrderShipped]",
            "detail-type: [{\"prefix\": 5}]",
            1,
        )
    });
    let mut o = options(Chaos::off());
    o.template = bad_pattern;
    o.build = false;
    let err = LocalStack::start(o).await.err().expect("start fails");
    let msg = err.to_string();
    assert!(matches!(err, StackError::Template(_)), "{msg}");
    assert!(
        msg.contains("OrdersFunction") && msg.contains("Pattern"),
        "{msg}"
    );

    let unsupported = write_template("unsupported", |t| {
        t.replacen(
            "      BillingMode: PAY_PER_REQUEST\n",
            "      BillingMode: PAY_PER_REQUEST\n      GlobalSecondaryIndexes:\n        - IndexName: byStatus\n          KeySchema:\n            - AttributeName: status\n              KeyType: HASH\n          Projection:\n            ProjectionType: ALL\n",
            1,
        )
    });
    let mut o = options(Chaos::off());
    o.template = unsupported;
    o.build = false;
    let msg = LocalStack::start(o)
        .await
        .err()
        .expect("start fails")
        .to_string();
    assert!(
        msg.contains("IdempotencyTable") && msg.contains("GlobalSecondaryIndexes"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_signs_in_and_shows_the_days_numbers_in_headless_chromium() {
    let stack = start(options(Chaos::off())).await;
    let report = eventmart_local::eventmart::demo::run(&stack)
        .await
        .expect("demo ran");
    assert_passed(&report);
    let today = chrono::Utc::now().date_naive();
    let url = format!(
        "{}/dashboard?from={today}&to={today}",
        stack.endpoints().http_api
    );
    let profile = std::env::temp_dir().join(format!("chromium-{}", std::process::id()));
    let dashboard = tokio::task::spawn_blocking(move || {
        let mut browser = Browser::launch(&profile);
        let sign_in = |browser: &mut Browser, password: &str| {
            let page = browser.open(&url);
            browser.wait_for(&page, "document.getElementById('sign-in-button') !== null");
            browser.eval(
                &page,
                &format!(
                    "document.getElementById('email').value = 'analyst@example.com';
                     document.getElementById('password').value = {};
                     document.getElementById('sign-in-button').click(); true",
                    serde_json::to_string(password).unwrap()
                ),
            );
            page
        };

        // A wrong password: an error, and no numbers.
        let page = sign_in(&mut browser, "Wrong-passw0rd");
        let error = browser.wait_for(&page, "document.getElementById('error').textContent");
        let hidden = browser.eval(&page, "document.getElementById('dashboard').hidden");
        let shown = browser.eval(
            &page,
            "document.getElementById('orders-placed-total').textContent",
        );

        // The analyst the demo signed up: the day's numbers.
        let page = sign_in(&mut browser, eventmart_local::cognito::LOCAL_PASSWORD);
        browser.wait_for(
            &page,
            "!document.getElementById('dashboard').hidden && \
             document.getElementById('orders-placed-total').textContent !== '–'",
        );
        let text = |browser: &mut Browser, id: &str| {
            browser.eval(
                &page,
                &format!("document.getElementById('{id}').textContent.trim()"),
            )
        };
        let numbers: Vec<Value> = [
            "orders-placed-total",
            "orders-canceled-total",
            "shipments-total",
            "sign-ups-total",
            "membership-cancellations-total",
            "gross-revenue-EUR",
            "discounts-EUR",
            "discounted-orders-total",
        ]
        .iter()
        .map(|id| text(&mut browser, id))
        .collect();
        let ticks = browser.eval(
            &page,
            "[...document.querySelectorAll('#chart-counts text.y-tick')].map(t => t.textContent)",
        );
        let stored = browser.eval(
            &page,
            "localStorage.length + sessionStorage.length + document.cookie.length",
        );
        (error, hidden, shown, numbers, ticks, stored)
    })
    .await
    .expect("the browser session");
    stack.shutdown().await;
    let (error, hidden, shown, numbers, ticks, stored) = dashboard;
    assert_eq!(error, "Wrong email or password");
    assert_eq!(hidden, true, "no numbers without a sign-in");
    assert_eq!(shown, "–");
    // Three orders (81.00 at the member price + 25.00 + 129.00 EUR), one canceled, one
    // shipped, one member who left; 8.99 EUR off the member's order; money in euros, not
    // minor units.
    assert_eq!(numbers, ["3", "1", "1", "1", "1", "€235.00", "€8.99", "1"]);
    let ticks: Vec<String> = serde_json::from_value(ticks).expect("tick labels");
    assert!(!ticks.is_empty(), "the activity chart has y ticks");
    let counts: Vec<u64> = ticks
        .iter()
        .map(|t| {
            t.parse()
                .unwrap_or_else(|_| panic!("integer ticks only: {ticks:?}"))
        })
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] != w[1]),
        "no tick twice: {ticks:?}"
    );
    assert_eq!(stored, 0, "tokens in memory only: no storage, no cookie");
}

/// The table names on an AWS server.
async fn tables_on(endpoint: &str) -> Vec<String> {
    let sdk = eventmart_local::stack::sdk_config(endpoint).await;
    aws_sdk_dynamodb::Client::new(&sdk)
        .list_tables()
        .send()
        .await
        .unwrap_or_else(|e| panic!("ListTables on {endpoint}: {e:?}"))
        .table_names()
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stack_pointed_at_an_aws_server_provisions_there_and_leaves_it_running() {
    let dir = root().join("target/local/external-aws");
    std::fs::create_dir_all(&dir).unwrap();
    let mut moto = eventmart_local::servers::moto::Moto::start(&root(), &dir.join("moto.log"))
        .await
        .expect("moto starts");
    let mut o = options(Chaos::off());
    o.aws = Some(moto.endpoint());
    o.stack_name = "external".into();
    let stack = start(o.clone()).await;
    assert_eq!(stack.endpoints().moto, moto.endpoint());
    assert_eq!(
        stack.moto_pid(),
        None,
        "the stack did not start this server"
    );
    let tables = tables_on(&moto.endpoint()).await;
    let model = eventmart_local::template::Stack::load(
        &root().join("template.yaml"),
        &eventmart_local::template::LocalNaming::new(moto.endpoint()),
        &Default::default(),
    )
    .expect("template.yaml loads");
    let declared: std::collections::BTreeSet<&str> =
        model.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        tables
            .iter()
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>(),
        declared,
        "the template's tables, and only those, are on the given server"
    );
    stack.shutdown().await;
    assert_eq!(
        tables_on(&moto.endpoint()).await,
        tables,
        "the server answers after the stack stopped, its tables kept"
    );
    // A second run on the same server keeps the tables it finds.
    let again = start(o).await;
    assert_eq!(tables_on(&moto.endpoint()).await, tables);
    again.shutdown().await;
    moto.stop().await;
}

#[tokio::test]
async fn a_stack_pointed_at_nothing_says_so() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut o = options(Chaos::off());
    o.aws = Some(format!("http://127.0.0.1:{port}"));
    let err = LocalStack::start(o)
        .await
        .err()
        .expect("nothing listens there");
    assert!(matches!(err, StackError::AwsUnreachable(_)), "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}
