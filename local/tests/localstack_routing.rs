//! The routing cross-check against LocalStack (`make localstack-routing`, with
//! `--features localstack`): the template's bus, archive and rules deployed through
//! LocalStack's CloudFormation, each rule's Lambda target replaced by an SQS listener
//! queue; every bus sample and a few hundred generated events put on that bus and on
//! eventmart-local's; each event must reach exactly the same rules on both.
//!
//! LocalStack runs in host mode from `target/localstack/venv` (scripts/localstack-setup.sh),
//! offline, on a free loopback port, and is killed when the test ends. The archive is
//! compared through a listener rule with the archive's pattern on LocalStack's side (its
//! archived events cannot be listed) and through the local bus's archive on ours.
#![cfg(feature = "localstack")]

use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use eventmart_local::eventbridge::transform::TargetInput;
use eventmart_local::eventbridge::{Bus, BusOptions, Destination};
use eventmart_local::servers::moto::{accepts_within, free_port};
use eventmart_local::stack::{sdk_config, specs};
use eventmart_local::template::{LocalNaming, Stack};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};

mod support;
use support::{Recorder, root};

/// The stack name of the routing-only deployment.
const STACK: &str = "eventmart-routing";
/// What the archive's listener rule is called on LocalStack, and how its events are
/// told apart from the rules' on our side.
const ARCHIVE_PREFIX: &str = "archive-";

/// LocalStack in host mode; killed when dropped.
struct LocalStackServer {
    _child: Child,
    endpoint: String,
}

impl LocalStackServer {
    async fn start(dir: &Path) -> LocalStackServer {
        let python = std::env::var_os("LOCALSTACK_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target/localstack/venv/bin/python"));
        assert!(
            python.exists(),
            "{} is missing: run scripts/localstack-setup.sh",
            python.display()
        );
        std::fs::create_dir_all(dir).unwrap();
        let log = std::fs::File::create(dir.join("localstack.log")).unwrap();
        let port = free_port().unwrap();
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let child = Command::new(python)
            .args(["-m", "localstack.runtime.main"])
            .current_dir(dir)
            // Host mode; no DNS server, no analytics, no certificate download: nothing
            // leaves this machine.
            .env("OVERRIDE_IN_DOCKER", "0")
            .env("GATEWAY_LISTEN", addr.to_string())
            .env("SERVICES", "cloudformation,events,sqs,iam,sts,logs,s3")
            .env("DNS_ADDRESS", "0")
            .env("DISABLE_EVENTS", "1")
            .env("SKIP_SSL_CERT_DOWNLOAD", "1")
            .env("LOCALSTACK_VOLUME_DIR", dir.join("volume"))
            .env("TMPDIR", dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("LocalStack starts");
        let server = LocalStackServer {
            _child: child,
            endpoint: format!("http://{addr}"),
        };
        assert!(
            accepts_within(addr, Duration::from_secs(60)).await,
            "LocalStack did not listen on {addr} within 60 s; see {}",
            dir.join("localstack.log").display()
        );
        server.wait_ready().await;
        server
    }

    /// Waits until LocalStack's health endpoint reports the services this test uses.
    async fn wait_ready(&self) {
        let url = format!("{}/_localstack/health", self.endpoint);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = eventmart_local::client::request("GET", &url, &[], None).await {
                let health: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                let up = |s: &str| {
                    matches!(
                        health["services"][s].as_str(),
                        Some("available" | "running")
                    )
                };
                if up("cloudformation") && up("events") && up("sqs") {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "LocalStack not ready: {url}");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// The name of the listener queue of a rule (SQS names: 80 characters of `[A-Za-z0-9_-]`).
fn queue_name(rule: &str) -> String {
    let name: String = rule
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("listen-{name}").chars().take(80).collect()
}

/// The template's bus, archive and rules, each rule's Lambda target an SQS queue: plain
/// CloudFormation, written from the same model eventmart-local routes by.
fn routing_template(model: &Stack) -> (Value, Vec<String>) {
    let mut resources = serde_json::Map::new();
    let mut listeners = vec![];
    assert_eq!(model.buses.len(), 1, "the template has one bus");
    let bus = &model.buses[0];
    resources.insert(
        "Bus".into(),
        json!({"Type": "AWS::Events::EventBus", "Properties": {"Name": bus.name}}),
    );
    resources.insert(
        "ListenerDLQ".into(),
        json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "listen-dead-letters"}}),
    );
    let mut add_listener = |resources: &mut serde_json::Map<String, Value>,
                            id: usize,
                            name: &str,
                            pattern: &Value,
                            enabled: bool,
                            target: Value| {
        resources.insert(
            format!("Queue{id}"),
            json!({"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue_name(name)}}),
        );
        resources.insert(
            format!("Rule{id}"),
            json!({
                "Type": "AWS::Events::Rule",
                "Properties": {
                    "Name": name,
                    "EventBusName": {"Ref": "Bus"},
                    "EventPattern": pattern,
                    "State": if enabled { "ENABLED" } else { "DISABLED" },
                    "Targets": [target],
                }
            }),
        );
        listeners.push(name.to_owned());
    };
    for (i, r) in model.rules.iter().enumerate() {
        let target = json!({
            "Id": r.target_id,
            "Arn": {"Fn::GetAtt": [format!("Queue{i}"), "Arn"]},
            "RetryPolicy": {
                "MaximumRetryAttempts": r.retry_policy.maximum_retry_attempts,
                "MaximumEventAgeInSeconds": r.retry_policy.maximum_event_age.as_secs(),
            },
            "DeadLetterConfig": {"Arn": {"Fn::GetAtt": ["ListenerDLQ", "Arn"]}},
        });
        add_listener(&mut resources, i, &r.name, &r.pattern, r.enabled, target);
    }
    for (j, a) in model.archives.iter().enumerate() {
        assert_eq!(a.bus, bus.name, "the archive is on the template's bus");
        resources.insert(
            format!("Archive{j}"),
            json!({
                "Type": "AWS::Events::Archive",
                "Properties": {
                    "ArchiveName": a.name,
                    "SourceArn": {"Fn::GetAtt": ["Bus", "Arn"]},
                    "EventPattern": a.pattern,
                    "RetentionDays": a.retention_days,
                }
            }),
        );
        let id = model.rules.len() + j;
        let pattern = a
            .pattern
            .clone()
            .unwrap_or(json!({"source": [{"prefix": ""}]}));
        let target =
            json!({"Id": "listener", "Arn": {"Fn::GetAtt": [format!("Queue{id}"), "Arn"]}});
        let name = format!("{ARCHIVE_PREFIX}{}", a.name);
        add_listener(&mut resources, id, &name, &pattern, true, target);
    }
    let queues: Vec<Value> = (0..listeners.len())
        .map(|i| json!({"Ref": format!("Queue{i}")}))
        .collect();
    resources.insert(
        "ListenerPolicy".into(),
        json!({
            "Type": "AWS::SQS::QueuePolicy",
            "Properties": {
                "Queues": queues,
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": "*",
                    }],
                },
            }
        }),
    );
    let template = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Eventmart's bus, archive and rules, with SQS listeners for targets",
        "Resources": resources,
    });
    (template, listeners)
}

/// Deploys through LocalStack's CloudFormation with the AWS CLI, as a user would.
fn deploy(endpoint: &str, template: &Path) {
    let aws = root().join(".venv/bin/aws");
    assert!(aws.exists(), "{} is missing: run make setup", aws.display());
    let out = std::process::Command::new(aws)
        .args(["cloudformation", "deploy", "--no-fail-on-empty-changeset"])
        .args(["--stack-name", STACK, "--endpoint-url", endpoint])
        .arg("--template-file")
        .arg(template)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_DEFAULT_REGION", eventmart_local::aws::REGION)
        .env_remove("AWS_PROFILE")
        .stdin(Stdio::null())
        .output()
        .expect("aws cloudformation deploy runs");
    assert!(
        out.status.success(),
        "deploy failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One PutEvents entry: what a producer sends.
#[derive(Debug, Clone)]
struct Entry {
    source: String,
    detail_type: String,
    detail: Value,
    resources: Vec<String>,
}

impl Entry {
    fn put(&self, bus: &str) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(&self.source)
            .detail_type(&self.detail_type)
            .detail(self.detail.to_string())
            .set_resources(Some(self.resources.clone()).filter(|r| !r.is_empty()))
            .build()
    }
}

/// Every bus sample, then generated events: each source and detail type the samples use,
/// and near misses of them (case, a suffix, a prefix of the archive's prefix, other
/// producers), each with a sample's detail, an empty detail and a nested one.
fn entries() -> Vec<Entry> {
    let mut samples = vec![];
    let dir = root().join("events/eventbridge");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    for path in paths {
        let e: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        samples.push(Entry {
            source: e["source"].as_str().unwrap().to_owned(),
            detail_type: e["detail-type"].as_str().unwrap().to_owned(),
            detail: e["detail"].clone(),
            resources: e["resources"]
                .as_array()
                .map(|r| {
                    r.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
        });
    }
    let sources: BTreeSet<String> = samples.iter().map(|e| e.source.clone()).collect();
    let types: BTreeSet<String> = samples.iter().map(|e| e.detail_type.clone()).collect();
    let mut all_sources: Vec<String> = sources.iter().cloned().collect();
    for s in &sources {
        all_sources.push(s.to_uppercase());
        all_sources.push(format!("{s}x"));
    }
    all_sources.extend(
        [
            "eventmart",
            "eventmart.",
            "eventmartx.orders",
            "acme.orders",
            "aws.events",
        ]
        .map(String::from),
    );
    let mut all_types: Vec<String> = types.iter().cloned().collect();
    for t in &types {
        all_types.push(t.to_lowercase());
    }
    all_types.extend(["Other", "OrderPlaced ", ""].map(String::from));
    let details = |t: &str| -> Vec<Value> {
        let sample = samples
            .iter()
            .find(|e| e.detail_type == t)
            .map_or(json!({"n": 1}), |e| e.detail.clone());
        vec![
            sample,
            json!({}),
            json!({"source": "eventmart.orders", "a": {"b": [1, null]}}),
        ]
    };
    let mut out = samples.clone();
    for s in &all_sources {
        for t in &all_types {
            // PutEvents refuses an empty detail type: keep one such entry only.
            if t.is_empty() && s != &all_sources[0] {
                continue;
            }
            for d in details(t) {
                out.push(Entry {
                    source: s.clone(),
                    detail_type: t.clone(),
                    detail: d,
                    resources: vec![],
                });
            }
        }
    }
    out
}

/// Puts every entry on `bus` at `endpoint`, ten at a time: the event id of each accepted
/// entry, or the error code of a refused one.
async fn put_all(
    client: &aws_sdk_eventbridge::Client,
    bus: &str,
    entries: &[Entry],
) -> Vec<Result<String, String>> {
    let mut out = vec![];
    for chunk in entries.chunks(10) {
        let r = client
            .put_events()
            .set_entries(Some(chunk.iter().map(|e| e.put(bus)).collect()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("PutEvents: {e:?}"));
        assert_eq!(r.entries().len(), chunk.len());
        for e in r.entries() {
            out.push(match (e.event_id(), e.error_code()) {
                (Some(id), None) => Ok(id.to_owned()),
                (_, code) => Err(code.unwrap_or("no event id").to_owned()),
            });
        }
    }
    out
}

/// Which listeners got each event, by event id; and each delivered envelope.
type Routes = BTreeMap<String, BTreeSet<String>>;

/// Drains every listener queue until `expected` messages have arrived and then two seconds
/// pass with nothing more (so an extra delivery is seen too), or a minute is up.
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    queues: &[(String, String)],
    expected: usize,
) -> (Routes, BTreeMap<String, Value>, usize) {
    let mut routes = Routes::new();
    let mut envelopes = BTreeMap::new();
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut quiet_since: Option<Instant> = None;
    loop {
        let mut got = 0;
        for (listener, url) in queues {
            let r = sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .send()
                .await
                .expect("ReceiveMessage");
            for m in r.messages() {
                let event: Value = serde_json::from_str(m.body().unwrap_or("")).unwrap();
                let id = event["id"].as_str().unwrap_or_default().to_owned();
                routes
                    .entry(id.clone())
                    .or_default()
                    .insert(listener.clone());
                envelopes.insert(id, event);
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("DeleteMessage");
                got += 1;
            }
        }
        received += got;
        if got > 0 || received < expected {
            quiet_since = None;
        } else if quiet_since.get_or_insert_with(Instant::now).elapsed() > Duration::from_secs(2) {
            return (routes, envelopes, received);
        }
        if Instant::now() > deadline {
            return (routes, envelopes, received);
        }
        if got == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_reaches_the_same_rules_on_localstack_as_on_eventmart_local() {
    let dir = root().join("target/localstack/routing");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let model = Stack::load(
        &root().join("template.yaml"),
        &LocalNaming::new("http://127.0.0.1:1").stack(STACK),
        &BTreeMap::new(),
    )
    .expect("template.yaml loads");
    let bus_name = model.buses[0].name.clone();
    let entries = entries();
    assert!(entries.len() >= 300, "{} events", entries.len());

    // eventmart-local: its bus, its rules as the stack builds them, each target recording.
    let recorder = Recorder::answering(Ok(Value::Null));
    let mut rules = specs::rules(&model);
    for r in &mut rules {
        // Every target, a function's or a delivery stream's, records the whole event.
        r.target.destination = Destination::Lambda(r.name.clone());
        r.target.input = TargetInput::Whole;
        r.target.dead_letter_queue_url = None;
    }
    let unused = sdk_config("http://127.0.0.1:1").await;
    let options = BusOptions {
        log: eventmart_local::log::LogMode::Quiet,
        ..BusOptions::default()
    };
    let bus = Bus::start(
        specs::buses(&model),
        rules,
        recorder.clone(),
        aws_sdk_sqs::Client::new(&unused),
        options,
        "127.0.0.1:0".parse::<SocketAddr>().unwrap(),
    )
    .await
    .expect("the local bus starts");
    let local_sdk = sdk_config(&bus.endpoint_url()).await;
    let local_ids = put_all(
        &aws_sdk_eventbridge::Client::new(&local_sdk),
        &bus_name,
        &entries,
    )
    .await;
    bus.idle().await;
    let mut local = Routes::new();
    let mut local_envelopes = BTreeMap::new();
    if let Ok(seen) = recorder.seen.lock() {
        for (rule, event) in seen.iter() {
            let id = event["id"].as_str().unwrap().to_owned();
            local.entry(id.clone()).or_default().insert(rule.clone());
            local_envelopes.insert(id, event.clone());
        }
    }
    for a in bus.archive() {
        let id = a.event["id"].as_str().unwrap().to_owned();
        local
            .entry(id)
            .or_default()
            .insert(format!("{ARCHIVE_PREFIX}{}", a.archive));
    }

    // LocalStack: the same rules through its CloudFormation, SQS listeners for targets.
    let server = LocalStackServer::start(&dir).await;
    let (template, listeners) = routing_template(&model);
    let file = dir.join("routing-template.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&template).unwrap()).unwrap();
    deploy(&server.endpoint, &file);
    let sdk = sdk_config(&server.endpoint).await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let deployed = events
        .list_rules()
        .event_bus_name(&bus_name)
        .send()
        .await
        .expect("ListRules");
    let deployed: BTreeSet<&str> = deployed.rules().iter().filter_map(|r| r.name()).collect();
    let wanted: BTreeSet<&str> = listeners.iter().map(String::as_str).collect();
    assert_eq!(deployed, wanted, "every rule is deployed on LocalStack");
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let mut queues = vec![];
    for l in &listeners {
        let url = sqs
            .get_queue_url()
            .queue_name(queue_name(l))
            .send()
            .await
            .expect("GetQueueUrl");
        queues.push((l.clone(), url.queue_url().unwrap().to_owned()));
    }
    let remote_ids = put_all(&events, &bus_name, &entries).await;
    let expected: usize = local.values().map(BTreeSet::len).sum();
    let (remote, remote_envelopes, received) = drain(&sqs, &queues, expected).await;

    // Compare, entry by entry; every difference is listed with its entry.
    let mut differences = vec![];
    let mut routed = 0;
    for (i, e) in entries.iter().enumerate() {
        let what = format!("{:?} {:?} {}", e.source, e.detail_type, e.detail);
        let (l, r) = match (&local_ids[i], &remote_ids[i]) {
            (Ok(l), Ok(r)) => (l, r),
            (Err(a), Err(b)) => {
                // Refused by both: fine when for the same reason class.
                if a != b {
                    differences.push(format!("{what}: refused as {a} locally, {b} on LocalStack"));
                }
                continue;
            }
            (a, b) => {
                differences.push(format!(
                    "{what}: accepted/refused differ: local {a:?}, LocalStack {b:?}"
                ));
                continue;
            }
        };
        let empty = BTreeSet::new();
        let lr = local.get(l).unwrap_or(&empty);
        let rr = remote.get(r).unwrap_or(&empty);
        if lr != rr {
            differences.push(format!(
                "{what}: eventmart-local routes to {lr:?}, LocalStack to {rr:?}"
            ));
        }
        if !lr.is_empty() {
            routed += 1;
        }
        // The envelope each target receives: the same fields, the same values where they
        // are not the bus's own (id, time, account, region).
        if let (Some(le), Some(re)) = (local_envelopes.get(l), remote_envelopes.get(r)) {
            for field in ["version", "source", "detail-type", "detail", "resources"] {
                if le[field] != re[field] {
                    differences.push(format!(
                        "{what}: {field} delivered as {} locally, {} by LocalStack",
                        le[field], re[field]
                    ));
                }
            }
            let keys = |v: &Value| -> BTreeSet<String> {
                v.as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            if keys(le) != keys(re) {
                differences.push(format!(
                    "{what}: envelope fields {:?} locally, {:?} by LocalStack",
                    keys(le),
                    keys(re)
                ));
            }
        }
    }
    eprintln!(
        "{} events ({} routed somewhere); {expected} deliveries locally, {received} from LocalStack; {} differences",
        entries.len(),
        routed,
        differences.len()
    );
    assert!(routed >= 8, "the samples are routed: {routed}");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    assert_eq!(
        received, expected,
        "deliveries: LocalStack {received}, local {expected}"
    );
}
