//! DynamoDB Streams event source mappings: polls a table's stream as Lambda does and
//! invokes the function with `{"Records": [...]}` in order, with filter criteria, batch
//! size and window, batch item failures, bisect on error, retries and the on-failure
//! destination.
//!
//! Per mapping one task reads every shard in turn (GetShardIterator, GetRecords,
//! following `NextShardIterator`), filters records (filtered-out records count as
//! processed, as in Lambda), and invokes batches one at a time per shard, so records of a
//! shard reach the function in sequence order. Logs: one line per invocation to stderr.

use crate::aws::{ACCOUNT_ID, REGION, function_arn};
use crate::lambda::{InvokeError, Invoker};
use crate::log::{LogMode, write_line};
use crate::pattern::Pattern;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use chrono::{SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where a mapping starts reading a shard that exists when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

/// One DynamoDB event source mapping.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub table_name: String,
    /// The function's template logical id.
    pub function: String,
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long records are gathered before a batch
    /// smaller than `batch_size` is sent.
    pub batching_window: Duration,
    pub starting_position: StartingPosition,
    /// `FilterCriteria`: a record passes if any filter matches (all pass when empty).
    pub filters: Vec<Pattern>,
    pub bisect_on_error: bool,
    /// Retries of a failing batch after its first invocation.
    pub max_retry_attempts: u32,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// `MaximumRecordAgeInSeconds`: records older than this (by their approximate
    /// creation time) are not sent again, but go to the on-failure queue; `None` keeps
    /// retrying them.
    pub max_record_age: Option<Duration>,
    pub on_failure_queue_url: Option<String>,
}

impl StreamSpec {
    /// A mapping with Lambda's defaults (batch 100, no window, TRIM_HORIZON, no filters,
    /// no bisect, 10 retries here rather than AWS's infinite).
    pub fn new(table_name: impl Into<String>, function: impl Into<String>) -> Self {
        StreamSpec {
            table_name: table_name.into(),
            function: function.into(),
            batch_size: 100,
            batching_window: Duration::ZERO,
            starting_position: StartingPosition::TrimHorizon,
            filters: Vec::new(),
            bisect_on_error: false,
            max_retry_attempts: 10,
            report_batch_item_failures: false,
            max_record_age: None,
            on_failure_queue_url: None,
        }
    }
}

/// How the pollers behave besides their mappings.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub log: LogMode,
    /// Pause between polls of a caught-up stream.
    pub poll_interval: Duration,
    /// Pause before retrying a failed batch.
    pub retry_delay: Duration,
    pub account_id: String,
    pub region: String,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            log: LogMode::Human,
            poll_interval: Duration::from_millis(200),
            retry_delay: Duration::from_millis(100),
            account_id: ACCOUNT_ID.to_owned(),
            region: REGION.to_owned(),
        }
    }
}

/// Why a poller could not start.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("table {table}: DescribeTable failed: {message}")]
    DescribeTable { table: String, message: String },
    #[error("table {0} has no stream (StreamSpecification is missing)")]
    NoStream(String),
    #[error("mapping for table {0}: batch size must be at least 1")]
    BatchSize(String),
}

/// What the pollers have done so far, over every mapping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamCounters {
    pub records_read: u64,
    pub records_filtered_out: u64,
    pub invocations: u64,
    /// Records the function processed successfully.
    pub records_delivered: u64,
    pub retried: u64,
    pub bisected: u64,
    /// Batches sent to the on-failure queue (or dropped when there is none).
    pub batches_failed: u64,
    /// Errors talking to the stream (retried on the next poll).
    pub poll_errors: u64,
}

#[derive(Default)]
struct Atomic {
    records_read: AtomicU64,
    records_filtered_out: AtomicU64,
    invocations: AtomicU64,
    records_delivered: AtomicU64,
    retried: AtomicU64,
    bisected: AtomicU64,
    batches_failed: AtomicU64,
    poll_errors: AtomicU64,
}

fn add(a: &AtomicU64, n: u64) {
    a.fetch_add(n, Ordering::Relaxed);
}

/// A mapping's progress: `cycle` counts started polling rounds; `quiet` is the last round
/// that found no record and had nothing buffered or in flight.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    cycle: u64,
    quiet: u64,
    stopped: bool,
}

struct Shared {
    invoker: Arc<dyn Invoker>,
    streams: aws_sdk_dynamodbstreams::Client,
    sqs: aws_sdk_sqs::Client,
    options: StreamOptions,
    counters: Atomic,
    shutdown: watch::Sender<bool>,
}

/// The running pollers. Dropping it stops them.
pub struct StreamPoller {
    shared: Arc<Shared>,
    progress: Vec<watch::Receiver<Progress>>,
    tasks: Vec<JoinHandle<()>>,
}

impl StreamPoller {
    /// Finds each table's stream (DescribeTable `LatestStreamArn`) and starts polling it.
    pub async fn start(
        mappings: Vec<StreamSpec>,
        streams: aws_sdk_dynamodbstreams::Client,
        dynamodb: aws_sdk_dynamodb::Client,
        invoker: Arc<dyn Invoker>,
        sqs: aws_sdk_sqs::Client,
        options: StreamOptions,
    ) -> Result<StreamPoller, StreamError> {
        let mut resolved = Vec::new();
        for m in mappings {
            if m.batch_size == 0 {
                return Err(StreamError::BatchSize(m.table_name));
            }
            let out = dynamodb
                .describe_table()
                .table_name(&m.table_name)
                .send()
                .await
                .map_err(|e| StreamError::DescribeTable {
                    table: m.table_name.clone(),
                    message: aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
                })?;
            let arn = out
                .table()
                .and_then(|t| t.latest_stream_arn())
                .map(str::to_owned)
                .ok_or_else(|| StreamError::NoStream(m.table_name.clone()))?;
            resolved.push((m, arn));
        }
        let shared = Arc::new(Shared {
            invoker,
            streams,
            sqs,
            options,
            counters: Atomic::default(),
            shutdown: watch::Sender::new(false),
        });
        let mut progress = Vec::new();
        let mut tasks = Vec::new();
        for (spec, arn) in resolved {
            let (tx, rx) = watch::channel(Progress::default());
            progress.push(rx);
            let mut mapping = Mapping {
                shared: shared.clone(),
                spec,
                stream_arn: arn,
                shards: Vec::new(),
                progress: tx,
                first_listing: true,
            };
            tasks.push(tokio::spawn(async move {
                mapping.run().await;
                mapping.progress.send_modify(|p| p.stopped = true);
            }));
        }
        Ok(StreamPoller {
            shared,
            progress,
            tasks,
        })
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> StreamCounters {
        let c = &self.shared.counters;
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StreamCounters {
            records_read: g(&c.records_read),
            records_filtered_out: g(&c.records_filtered_out),
            invocations: g(&c.invocations),
            records_delivered: g(&c.records_delivered),
            retried: g(&c.retried),
            bisected: g(&c.bisected),
            batches_failed: g(&c.batches_failed),
            poll_errors: g(&c.poll_errors),
        }
    }

    /// Waits until every mapping has completed a polling round, started after this call,
    /// that found no new record with nothing buffered or in flight: everything written
    /// to the tables before the call has been handled.
    pub async fn idle(&self) {
        for rx in &self.progress {
            let mut rx = rx.clone();
            let since = rx.borrow().cycle;
            let _ = rx.wait_for(|p| p.stopped || p.quiet > since).await;
        }
    }

    /// Stops polling (an invocation in flight finishes first).
    pub async fn stop(mut self) {
        self.shared.shutdown.send_replace(true);
        for t in self.tasks.drain(..) {
            let _ = t.await;
        }
    }
}

impl Drop for StreamPoller {
    fn drop(&mut self) {
        self.shared.shutdown.send_replace(true);
    }
}

/// A record as Lambda hands it to the function, with its sequence number.
#[derive(Debug, Clone)]
struct Rec {
    seq: String,
    json: Value,
}

struct ShardState {
    id: String,
    parent: Option<String>,
    iterator: Option<String>,
    /// Last sequence number handled, to re-get an expired iterator.
    checkpoint: Option<String>,
    /// Filtered records waiting for a full batch or the window.
    buffer: Vec<Rec>,
    buffered_since: Option<Instant>,
    /// The shard is closed and fully read.
    done: bool,
    started: bool,
}

struct Mapping {
    shared: Arc<Shared>,
    spec: StreamSpec,
    stream_arn: String,
    shards: Vec<ShardState>,
    progress: watch::Sender<Progress>,
    first_listing: bool,
}

impl Mapping {
    fn stopping(&self) -> bool {
        *self.shared.shutdown.borrow()
    }

    async fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.shared.shutdown.subscribe();
        if *stop.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    fn poll_error(&self, what: &str, message: String) {
        add(&self.shared.counters.poll_errors, 1);
        tracing::warn!(table = %self.spec.table_name, "stream poll: {what}: {message}");
    }

    async fn run(&mut self) {
        let mut round = 0u64;
        while !self.stopping() {
            round += 1;
            self.progress.send_modify(|p| p.cycle = round);
            let mut busy = false;
            // Shards are few and rarely change locally; list them every few rounds.
            if round % 10 == 1 && !self.refresh_shards().await {
                busy = true;
            }
            for i in 0..self.shards.len() {
                if self.stopping() {
                    return;
                }
                busy |= self.poll_shard(i).await;
            }
            // Records held for the batching window are work still to do.
            let holding = self.shards.iter().any(|s| !s.buffer.is_empty());
            if !busy && !holding {
                self.progress.send_modify(|p| p.quiet = round);
            }
            if !self.sleep(self.shared.options.poll_interval).await {
                return;
            }
        }
    }

    /// Adds new shards; false when listing failed.
    async fn refresh_shards(&mut self) -> bool {
        let mut start: Option<String> = None;
        let mut found = Vec::new();
        loop {
            let resp = self
                .shared
                .streams
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await;
            let desc = match resp {
                Ok(r) => r,
                Err(e) => {
                    self.poll_error(
                        "DescribeStream",
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                    );
                    return false;
                }
            };
            let Some(d) = desc.stream_description() else {
                break;
            };
            for s in d.shards() {
                if let Some(id) = s.shard_id() {
                    found.push((id.to_owned(), s.parent_shard_id().map(str::to_owned)));
                }
            }
            match d.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => break,
            }
        }
        let latest_for_existing = self.first_listing;
        self.first_listing = false;
        for (id, parent) in found {
            if self.shards.iter().any(|s| s.id == id) {
                continue;
            }
            // LATEST applies to shards present at start; later (child) shards are read
            // from their beginning so nothing is skipped.
            let started =
                !(latest_for_existing && self.spec.starting_position == StartingPosition::Latest);
            self.shards.push(ShardState {
                id,
                parent,
                iterator: None,
                checkpoint: None,
                buffer: Vec::new(),
                buffered_since: None,
                done: false,
                started,
            });
        }
        true
    }

    async fn shard_iterator(&self, i: usize) -> Option<String> {
        let shard = &self.shards[i];
        let mut req = self
            .shared
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&shard.id);
        req = match (&shard.checkpoint, shard.started) {
            (Some(seq), _) => req
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(seq),
            (None, true) => req.shard_iterator_type(ShardIteratorType::TrimHorizon),
            (None, false) => req.shard_iterator_type(ShardIteratorType::Latest),
        };
        match req.send().await {
            Ok(r) => r.shard_iterator().map(str::to_owned),
            Err(e) => {
                self.poll_error(
                    "GetShardIterator",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                );
                None
            }
        }
    }

    /// Reads one page of a shard and sends what is due. True when there was work.
    async fn poll_shard(&mut self, i: usize) -> bool {
        if self.shards[i].done {
            return false;
        }
        // A child shard waits until its parent is fully read, keeping key order.
        if let Some(parent) = &self.shards[i].parent
            && self.shards.iter().any(|s| &s.id == parent && !s.done)
        {
            return false;
        }
        if self.shards[i].iterator.is_none() {
            match self.shard_iterator(i).await {
                Some(it) => {
                    self.shards[i].iterator = Some(it);
                    self.shards[i].started = true;
                }
                None => return true,
            }
        }
        let Some(iterator) = self.shards[i].iterator.clone() else {
            return true;
        };
        let resp = self
            .shared
            .streams
            .get_records()
            .shard_iterator(iterator)
            .limit(self.spec.batch_size.min(1000) as i32)
            .send()
            .await;
        let out = match resp {
            Ok(o) => o,
            Err(e) => {
                // An expired or invalid iterator: get a new one from the checkpoint.
                self.shards[i].iterator = None;
                self.poll_error(
                    "GetRecords",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string(),
                );
                return true;
            }
        };
        let records = out.records();
        let got = !records.is_empty();
        add(&self.shared.counters.records_read, records.len() as u64);
        for r in records {
            let rec = record_json(r, &self.stream_arn, &self.shared.options.region);
            let Some(seq) = rec
                .pointer("/dynamodb/SequenceNumber")
                .and_then(Value::as_str)
                .map(str::to_owned)
            else {
                continue;
            };
            let shard = &mut self.shards[i];
            shard.checkpoint = Some(seq.clone());
            if self.spec.filters.is_empty() || self.spec.filters.iter().any(|f| f.matches(&rec)) {
                shard.buffered_since.get_or_insert_with(Instant::now);
                shard.buffer.push(Rec { seq, json: rec });
            } else {
                add(&self.shared.counters.records_filtered_out, 1);
            }
        }
        match out.next_shard_iterator() {
            Some(next) => self.shards[i].iterator = Some(next.to_owned()),
            None => {
                self.shards[i].iterator = None;
                self.shards[i].done = true;
            }
        }
        let shard = &self.shards[i];
        let window_over = shard
            .buffered_since
            .is_some_and(|t| t.elapsed() >= self.spec.batching_window);
        // Send when a batch is full, the window is over, or the stream has no more for
        // now (a short page means we are caught up).
        let due = shard.buffer.len() >= self.spec.batch_size
            || window_over
            || (shard.done && !shard.buffer.is_empty());
        if due {
            let buffer = std::mem::take(&mut self.shards[i].buffer);
            self.shards[i].buffered_since = None;
            for chunk in buffer.chunks(self.spec.batch_size) {
                self.process(i, chunk.to_vec()).await;
            }
            return true;
        }
        got || !self.shards[i].buffer.is_empty()
    }

    /// Invokes the function with one batch until it succeeds, retries are exhausted (the
    /// batch goes to the on-failure queue) or bisecting isolates the failing records.
    async fn process(&self, i: usize, batch: Vec<Rec>) {
        let c = &self.shared.counters;
        // (records, retries so far); splitting a batch does not use up its retries.
        let mut work = vec![(batch, 0u32)];
        while let Some((mut recs, retries)) = work.pop() {
            // Records are in sequence order, so the expired ones are a prefix.
            let expired = recs.iter().take_while(|r| self.too_old(r)).count();
            if expired > 0 {
                let rest = recs.split_off(expired);
                add(&c.batches_failed, 1);
                let outcome = self
                    .on_failure(i, &recs, retries, "RecordAgeExceeded")
                    .await;
                self.log(
                    i,
                    &recs,
                    retries,
                    &format!("record age exceeded; {outcome}"),
                );
                recs = rest;
            }
            if recs.is_empty() {
                continue;
            }
            add(&c.invocations, 1);
            let payload =
                json!({"Records": recs.iter().map(|r| r.json.clone()).collect::<Vec<_>>()});
            let result = self
                .shared
                .invoker
                .invoke(&self.spec.function, payload)
                .await;
            let (failed_from, error) = match result {
                Ok(resp) if self.spec.report_batch_item_failures => {
                    match first_failure(&resp, &recs) {
                        Ok(None) => (None, None),
                        Ok(Some(idx)) => (Some(idx), Some("batch item failures".to_owned())),
                        Err(why) => (Some(0), Some(why)),
                    }
                }
                Ok(_) => (None, None),
                Err(e) => {
                    if self.spec.bisect_on_error && recs.len() > 1 {
                        add(&c.bisected, 1);
                        self.log(i, &recs, retries, &format!("error: {e}; bisecting"));
                        let mut left = recs;
                        let right = left.split_off(left.len() / 2);
                        work.push((right, retries));
                        work.push((left, retries));
                        continue;
                    }
                    (Some(0), Some(describe(&e)))
                }
            };
            let Some(idx) = failed_from else {
                add(&c.records_delivered, recs.len() as u64);
                self.log(i, &recs, retries, "ok");
                continue;
            };
            add(&c.records_delivered, idx as u64);
            let rest = recs[idx..].to_vec();
            let error = error.unwrap_or_default();
            if retries >= self.spec.max_retry_attempts {
                add(&c.batches_failed, 1);
                let outcome = self
                    .on_failure(
                        i,
                        &rest,
                        retries.saturating_add(1),
                        "RetryAttemptsExhausted",
                    )
                    .await;
                self.log(i, &rest, retries, &format!("error: {error}; {outcome}"));
                continue;
            }
            add(&c.retried, 1);
            self.log(i, &recs, retries, &format!("error: {error}; retrying"));
            if !self.sleep(self.shared.options.retry_delay).await {
                return;
            }
            work.push((rest, retries.saturating_add(1)));
        }
    }

    /// Whether `r` is past the mapping's maximum record age.
    fn too_old(&self, r: &Rec) -> bool {
        let Some(max) = self.spec.max_record_age else {
            return false;
        };
        let created = r
            .json
            .pointer("/dynamodb/ApproximateCreationDateTime")
            .and_then(Value::as_f64);
        let now = Utc::now().timestamp_millis() as f64 / 1000.0;
        created.is_some_and(|t| now - t > max.as_secs_f64())
    }

    /// Sends the failed batch's description to the on-failure queue, as Lambda does for
    /// stream sources; `condition` says why (`RetryAttemptsExhausted`, `RecordAgeExceeded`).
    async fn on_failure(&self, i: usize, recs: &[Rec], invokes: u32, condition: &str) -> String {
        let Some(queue) = &self.spec.on_failure_queue_url else {
            return "dropped (no on-failure destination)".to_owned();
        };
        let body = batch_info(
            &self.function_arn(),
            &self.shards[i].id,
            &self.stream_arn,
            recs,
            invokes,
            condition,
        );
        match crate::sqs::send(&self.shared.sqs, queue, body.to_string(), &[]).await {
            Ok(()) => format!("sent to {queue}"),
            Err(e) => format!("on-failure send failed: {e}"),
        }
    }

    fn function_arn(&self) -> String {
        function_arn(
            &self.shared.options.region,
            &self.shared.options.account_id,
            &self.spec.function,
        )
    }

    fn log(&self, i: usize, recs: &[Rec], retries: u32, outcome: &str) {
        let first = recs.first().map(|r| r.seq.as_str()).unwrap_or_default();
        let last = recs.last().map(|r| r.seq.as_str()).unwrap_or_default();
        let shard = &self.shards[i].id;
        write_line(
            self.shared.options.log,
            || {
                format!(
                    "stream {} -> {} shard={shard} records={} seq={first}..{last} attempt#{} {outcome}",
                    self.spec.table_name,
                    self.spec.function,
                    recs.len(),
                    retries.saturating_add(1)
                )
            },
            || {
                json!({
                    "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                    "component": "streams",
                    "table": self.spec.table_name,
                    "target": self.spec.function,
                    "shard": shard,
                    "records": recs.len(),
                    "firstSequenceNumber": first,
                    "lastSequenceNumber": last,
                    "attempt": retries.saturating_add(1),
                    "outcome": outcome,
                })
            },
        );
    }
}

fn describe(e: &InvokeError) -> String {
    e.to_string()
}

/// The index of the lowest-sequence failed record of a `batchItemFailures` response;
/// `Err` when the response is malformed (Lambda then treats the whole batch as failed).
fn first_failure(resp: &Value, recs: &[Rec]) -> Result<Option<usize>, String> {
    let failures = match resp.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("batchItemFailures is not a list".to_owned()),
    };
    let mut lowest: Option<usize> = None;
    for f in failures {
        let Some(id) = f.get("itemIdentifier").and_then(Value::as_str) else {
            return Err("a batch item failure has no itemIdentifier".to_owned());
        };
        let Some(idx) = recs.iter().position(|r| r.seq == id) else {
            return Err(format!("itemIdentifier {id} is not in the batch"));
        };
        lowest = Some(lowest.map_or(idx, |l| l.min(idx)));
    }
    Ok(lowest)
}

/// Lambda's on-failure record for a stream batch.
fn batch_info(
    function_arn: &str,
    shard_id: &str,
    stream_arn: &str,
    recs: &[Rec],
    invokes: u32,
    condition: &str,
) -> Value {
    let arrival = |r: Option<&Rec>| {
        r.and_then(|r| r.json.pointer("/dynamodb/ApproximateCreationDateTime"))
            .and_then(Value::as_f64)
            .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0))
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
    };
    json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invokes,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": recs.first().map(|r| r.seq.clone()),
            "endSequenceNumber": recs.last().map(|r| r.seq.clone()),
            "approximateArrivalOfFirstRecord": arrival(recs.first()),
            "approximateArrivalOfLastRecord": arrival(recs.last()),
            "batchSize": recs.len(),
            "streamArn": stream_arn,
        },
    })
}

/// A stream record as Lambda shapes it for the function (and for filtering).
fn record_json(r: &Record, stream_arn: &str, region: &str) -> Value {
    let mut ddb = Map::new();
    if let Some(d) = r.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            ddb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        for (name, image) in [
            ("Keys", d.keys()),
            ("NewImage", d.new_image()),
            ("OldImage", d.old_image()),
        ] {
            if let Some(m) = image {
                ddb.insert(name.into(), map_json(m));
            }
        }
        if let Some(s) = d.sequence_number() {
            ddb.insert("SequenceNumber".into(), json!(s));
        }
        if let Some(s) = d.size_bytes() {
            ddb.insert("SizeBytes".into(), json!(s));
        }
        if let Some(v) = d.stream_view_type() {
            ddb.insert("StreamViewType".into(), json!(v.as_str()));
        }
    }
    json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": r.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region().unwrap_or(region),
        "dynamodb": ddb,
        "eventSourceARN": stream_arn,
    })
}

fn map_json(m: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), attr_json(v))).collect())
}

/// DynamoDB JSON of an attribute value (`{"S": "x"}`, `{"N": "1"}`, ...).
fn attr_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({"S": s}),
        AttributeValue::N(n) => json!({"N": n}),
        AttributeValue::B(b) => json!({"B": base64(b.as_ref())}),
        AttributeValue::Ss(s) => json!({"SS": s}),
        AttributeValue::Ns(s) => json!({"NS": s}),
        AttributeValue::Bs(s) => {
            json!({"BS": s.iter().map(|b| base64(b.as_ref())).collect::<Vec<_>>()})
        }
        AttributeValue::M(m) => json!({"M": map_json(m)}),
        AttributeValue::L(l) => json!({"L": l.iter().map(attr_json).collect::<Vec<_>>()}),
        AttributeValue::Null(b) => json!({"NULL": b}),
        AttributeValue::Bool(b) => json!({"BOOL": b}),
        _ => json!({}),
    }
}

/// Standard base64 with padding (binary attributes), without a dependency for it.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= c.len() {
                out.push(A[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(seq: &str) -> Rec {
        Rec {
            seq: seq.to_owned(),
            json: json!({}),
        }
    }

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn first_failure_picks_the_lowest_sequence_number() {
        let recs = [rec("1"), rec("2"), rec("3")];
        let resp = json!({"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]});
        assert_eq!(first_failure(&resp, &recs), Ok(Some(1)));
        assert_eq!(first_failure(&json!({}), &recs), Ok(None));
        assert_eq!(
            first_failure(&json!({"batchItemFailures": []}), &recs),
            Ok(None)
        );
        assert!(
            first_failure(
                &json!({"batchItemFailures": [{"itemIdentifier": "9"}]}),
                &recs
            )
            .is_err()
        );
        assert!(first_failure(&json!({"batchItemFailures": [{}]}), &recs).is_err());
    }

    #[test]
    fn attribute_values_become_dynamodb_json() {
        let m = HashMap::from([(
            "a".to_owned(),
            AttributeValue::L(vec![
                AttributeValue::S("x".into()),
                AttributeValue::N("1".into()),
                AttributeValue::Bool(true),
                AttributeValue::Null(true),
                AttributeValue::M(HashMap::from([(
                    "k".to_owned(),
                    AttributeValue::Ss(vec!["s".into()]),
                )])),
            ]),
        )]);
        assert_eq!(
            map_json(&m),
            json!({"a": {"L": [{"S": "x"}, {"N": "1"}, {"BOOL": true}, {"NULL": true}, {"M": {"k": {"SS": ["s"]}}}]}})
        );
    }

    #[test]
    fn batch_info_names_the_batch_range() {
        let recs = [rec("10"), rec("20")];
        let v = batch_info(
            "arn:f",
            "shard-1",
            "arn:s",
            &recs,
            3,
            "RetryAttemptsExhausted",
        );
        assert_eq!(v["DDBStreamBatchInfo"]["startSequenceNumber"], "10");
        assert_eq!(v["DDBStreamBatchInfo"]["endSequenceNumber"], "20");
        assert_eq!(v["DDBStreamBatchInfo"]["batchSize"], 2);
        assert_eq!(v["requestContext"]["approximateInvokeCount"], 3);
        assert_eq!(v["requestContext"]["condition"], "RetryAttemptsExhausted");
    }
}
