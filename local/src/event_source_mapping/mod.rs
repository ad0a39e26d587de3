//! DynamoDB Streams event source mappings: polls a table's stream as Lambda does and
//! invokes the function with `{"Records": [...]}` in order, with filter criteria, batch
//! size and window, batch item failures, bisect on error, retries and the on-failure
//! destination.
//!
//! Per mapping one task reads every shard in turn (GetShardIterator, GetRecords,
//! following `NextShardIterator`), filters records (filtered-out records count as
//! processed, as in Lambda), and invokes batches one at a time per shard, so records of a
//! shard reach the function in sequence order. Logs: one line per invocation to stderr.

use crate::aws::{ACCOUNT_ID, REGION};
use crate::lambda::Invoker;
use crate::log::LogMode;
use crate::pattern::Pattern;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod batch;
mod poll;
mod records;
#[cfg(test)]
mod tests;

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
