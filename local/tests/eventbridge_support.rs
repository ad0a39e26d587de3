//! Helpers for the bus and stream tests (included by each `eventbridge_*.rs` and by
//! `event_source_mapping.rs` with `#[path]`): a recording fake invoker, a raw HTTP client for the EventBridge JSON API, and moto clients.
#![allow(dead_code)]

use eventmart_local::eventbridge::{Bus, BusOptions, BusSpec, FnInvoker, RuleSpec, Timing};
use eventmart_local::lambda::{InvokeError, Invoker};
use eventmart_local::log::LogMode;
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every invocation a fake invoker saw: (function, payload).
pub type Calls = Arc<Mutex<Vec<(String, Value)>>>;

/// A fake invoker that records each call, then answers with `respond`.
pub fn recording<F, Fut>(respond: F) -> (Arc<dyn Invoker>, Calls)
where
    F: Fn(String, Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value, InvokeError>> + Send + 'static,
{
    let calls: Calls = Arc::default();
    let seen = calls.clone();
    let respond = Arc::new(respond);
    let invoker = FnInvoker(move |function: String, payload: Value| {
        if let Ok(mut c) = seen.lock() {
            c.push((function.clone(), payload.clone()));
        }
        let respond = respond.clone();
        async move { respond(function, payload).await }
    });
    (Arc::new(invoker), calls)
}

pub fn calls(c: &Calls) -> Vec<(String, Value)> {
    c.lock().expect("calls lock").clone()
}

pub fn options() -> BusOptions {
    BusOptions {
        timing: Timing::fast(),
        log: LogMode::Human,
        ..BusOptions::default()
    }
}

pub fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

/// A bus on a free loopback port with the tests' options and no reachable SQS.
pub async fn offline_bus(
    buses: Vec<BusSpec>,
    rules: Vec<RuleSpec>,
    invoker: Arc<dyn Invoker>,
) -> Bus {
    Bus::start(buses, rules, invoker, offline_sqs(), options(), loopback())
        .await
        .expect("bus starts")
}

/// One EventBridge JSON 1.1 request over a plain TCP connection: (status, body).
pub async fn call(addr: SocketAddr, op: &str, body: &str) -> (u16, Value) {
    request(
        addr,
        "POST",
        "/",
        &format!("X-Amz-Target: AWSEvents.{op}\r\n"),
        body.as_bytes().to_vec(),
    )
    .await
}

/// Any HTTP request to the bus: (status, body), checking that the answer is AWS JSON 1.1
/// whatever was asked. The body is written from a task of its own and a failed write or a
/// reset after the answer is ignored: a server may answer before it has read everything.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{headers}Content-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let len = body.len();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        // Dropping the write half would half-close the connection, which the server
        // takes for the client going away: it lives until the answer is read.
        std::future::pending::<()>().await;
        drop(wr);
    });
    let mut out = Vec::new();
    let _ = rd.read_to_end(&mut out).await;
    writer.abort();
    let text = String::from_utf8(out).expect("utf-8 response");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path} ({len} bytes): no HTTP response: {text:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/x-amz-json-1.1"),
        "{head}"
    );
    (status, serde_json::from_str(body).expect("JSON body"))
}

/// The moto server's endpoint (set by scripts/with-moto.sh, which `make test` uses).
pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect(
        "AWS_ENDPOINT_URL is not set: run these tests under scripts/with-moto.sh (make test), which starts a local moto server",
    )
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    let _ = endpoint();
    eventmart_shared::aws::sdk_config().await
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config().await)
}

/// A fresh queue with a unique name; returns its URL.
pub async fn queue(sqs: &aws_sdk_sqs::Client, prefix: &str) -> String {
    let name = format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("queue url")
        .to_owned()
}

/// Every message in the queue: (body, string attributes).
pub async fn drain(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> Vec<(Value, std::collections::HashMap<String, String>)> {
    let mut out = Vec::new();
    loop {
        let resp = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        let msgs = resp.messages();
        if msgs.is_empty() {
            return out;
        }
        for m in msgs {
            let body = serde_json::from_str(m.body().unwrap_or("null")).expect("JSON message");
            let attrs = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.clone(), v.string_value().unwrap_or_default().to_owned()))
                        .collect()
                })
                .unwrap_or_default();
            out.push((body, attrs));
            if let Some(h) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(h)
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

/// An SQS client for tests that configure no queue: it never sends.
pub fn offline_sqs() -> aws_sdk_sqs::Client {
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .endpoint_url("http://127.0.0.1:9")
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}
