//! The local Amazon Data Firehose: the template's delivery streams, fed by the bus's
//! Firehose targets, writing to the template's bucket in the local S3.
//!
//! What each stream does, as Firehose does it:
//! - buffers records per partition (dynamic partitioning: the `MetadataExtractionQuery`'s
//!   keys) until the buffer's oldest record is `IntervalInSeconds` old or the buffer holds
//!   `SizeInMBs`; the interval is scaled like the stack's other delays;
//! - converts each buffer to one Parquet object against the Glue table the template
//!   names (the columns are read from the template, nowhere else), with the deserializer's
//!   `TimestampFormats`;
//! - writes it at `Prefix` (expanded per partition), named
//!   `<stream>-1-<yyyy-MM-dd-HH-mm-ss>-<uuid><FileExtension>`;
//! - writes a record that cannot be partitioned or converted under `ErrorOutputPrefix`
//!   (`partitioning-failed`, `format-conversion-failed`) as a JSON line with its reason
//!   and its data in base64, as Firehose's error records carry them.
//!
//! Every object is also written under `target/lake/<bucket>/` with the same key, for
//! `eventmart-local sql` to read.
//!
//! Guarantee and failure windows: a record is acknowledged to the bus once buffered, as
//! Firehose acknowledges `PutRecord`. Records still buffered when the stack stops are
//! flushed on [`DeliveryStreams::flush`] (the stack calls it on stop); a process killed
//! between acknowledgement and flush loses them, and so does a write to S3 that fails
//! (logged and counted in [`Counters::write_errors`], not retried); Firehose on AWS keeps
//! and retries them.

pub mod expr;

use crate::eventbridge::{PutRecordError, RecordSink};
use crate::lambda::BoxFuture;
use crate::warehouse::parquet::write_parquet;
use crate::warehouse::schema::{TableSchema, conform};
use chrono::{DateTime, Utc};
use expr::{PartitionQuery, Prefix, PrefixValues};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where the local copy of a template's lake is and how to read it: the table the first
/// converting delivery stream writes, under `<root>/<bucket>/<data prefix>`.
#[derive(Debug, Clone)]
pub struct LakeTable {
    /// `<root>/<bucket>`.
    pub dir: PathBuf,
    /// The table location's key prefix in the bucket (`events/`).
    pub data_prefix: String,
    pub schema: TableSchema,
}

impl LakeTable {
    pub fn of(model: &crate::template::Stack, root: &std::path::Path) -> Result<LakeTable, String> {
        let (stream, conversion) = model
            .delivery_streams
            .iter()
            .find_map(|d| Some((d, d.conversion.as_ref()?)))
            .ok_or("the template has no delivery stream that converts to Parquet")?;
        let table = model
            .glue_table(&conversion.table)
            .ok_or_else(|| format!("no Glue table {}", conversion.table))?;
        let bucket = model
            .buckets
            .iter()
            .find(|b| b.logical_id == stream.bucket)
            .ok_or_else(|| format!("no bucket {}", stream.bucket))?;
        let data_prefix = table
            .location
            .strip_prefix(&format!("s3://{}/", bucket.name))
            .ok_or_else(|| {
                format!(
                    "table {}'s location {} is not in bucket {}",
                    table.logical_id, table.location, bucket.name
                )
            })?
            .to_owned();
        Ok(LakeTable {
            dir: root.join(&bucket.name),
            data_prefix,
            schema: table.schema.clone(),
        })
    }
}

/// One delivery stream, as the template defines it.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub name: String,
    pub bucket: String,
    pub prefix: Prefix,
    pub error_prefix: Prefix,
    /// The buffer interval, already scaled.
    pub interval: Duration,
    pub size_bytes: usize,
    pub partitioning: Option<PartitionQuery>,
    /// Parquet conversion against this table; `None` writes the records as they came.
    pub conversion: Option<Conversion>,
    /// `FileExtension` (e.g. `.parquet`).
    pub file_extension: String,
}

#[derive(Debug, Clone)]
pub struct Conversion {
    pub schema: TableSchema,
    pub timestamp_formats: Vec<String>,
}

/// Why a stream could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FirehoseError {
    #[error("delivery stream {stream}: {message}")]
    Config { stream: String, message: String },
    #[error("delivery stream {stream}: writing {key}: {message}")]
    Write {
        stream: String,
        key: String,
        message: String,
    },
}

/// Where objects go: the bucket in the local S3.
pub trait ObjectStore: Send + Sync {
    fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> BoxFuture<'_, Result<(), String>>;
}

/// An S3 client (path-style, as local servers need).
pub struct S3Store(pub aws_sdk_s3::Client);

impl ObjectStore for S3Store {
    fn put(&self, bucket: &str, key: &str, body: Vec<u8>) -> BoxFuture<'_, Result<(), String>> {
        let (bucket, key) = (bucket.to_owned(), key.to_owned());
        Box::pin(async move {
            self.0
                .put_object()
                .bucket(bucket)
                .key(key)
                .body(body.into())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| aws_sdk_s3::error::DisplayErrorContext(e).to_string())
        })
    }
}

/// Records waiting in one partition's buffer.
struct Buffer {
    keys: Vec<(String, String)>,
    records: Vec<Arrived>,
    bytes: usize,
    since: Instant,
}

struct Arrived {
    data: Vec<u8>,
    at: DateTime<Utc>,
}

struct Stream {
    spec: StreamSpec,
    /// Partition (its keys joined) → buffer.
    buffers: Mutex<BTreeMap<String, Buffer>>,
}

/// The stack's delivery streams.
pub struct DeliveryStreams {
    streams: Vec<Arc<Stream>>,
    store: Arc<dyn ObjectStore>,
    local: PathBuf,
    /// Serializes flushes (the timer's and an explicit one) so no buffer is written twice.
    flushing: tokio::sync::Mutex<()>,
    counters: Mutex<Counters>,
}

/// What the streams have written so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub records: u64,
    pub objects: u64,
    pub error_records: u64,
    pub write_errors: u64,
}

impl DeliveryStreams {
    /// The streams, writing to `store` and under `local` (`target/lake`).
    pub fn new(
        specs: Vec<StreamSpec>,
        store: Arc<dyn ObjectStore>,
        local: PathBuf,
    ) -> Result<Arc<DeliveryStreams>, FirehoseError> {
        for s in &specs {
            if let Some(key) = s.prefix.keys().find(|k| {
                !s.partitioning
                    .as_ref()
                    .is_some_and(|q| q.keys.iter().any(|(n, _)| n == k))
            }) {
                return Err(FirehoseError::Config {
                    stream: s.name.clone(),
                    message: format!(
                        "Prefix uses partition key {key}, which the query does not extract"
                    ),
                });
            }
        }
        Ok(Arc::new(DeliveryStreams {
            streams: specs
                .into_iter()
                .map(|spec| {
                    Arc::new(Stream {
                        spec,
                        buffers: Mutex::default(),
                    })
                })
                .collect(),
            store,
            local,
            flushing: tokio::sync::Mutex::new(()),
            counters: Mutex::default(),
        }))
    }

    /// Flushes buffers past their interval every tick, until the returned task is aborted.
    pub fn spawn_timer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        let tick = self
            .streams
            .iter()
            .map(|s| s.spec.interval / 4)
            .min()
            .unwrap_or(Duration::from_secs(1))
            // Often enough that a full buffer is written soon after it fills.
            .clamp(Duration::from_millis(20), Duration::from_millis(250));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                me.flush_due(false).await;
            }
        })
    }

    /// Stops the timer of [`spawn_timer`](Self::spawn_timer) between two flushes, never
    /// during one (a flush takes its buffers out before writing them).
    pub async fn stop_timer(&self, timer: &tokio::task::JoinHandle<()>) {
        let _between = self.flushing.lock().await;
        timer.abort();
    }

    /// Writes every buffer now, due or not.
    pub async fn flush(&self) {
        self.flush_due(true).await;
    }

    /// Whether any record is waiting in a buffer.
    pub fn buffered(&self) -> usize {
        self.streams
            .iter()
            .map(|s| {
                lock(&s.buffers)
                    .values()
                    .map(|b| b.records.len())
                    .sum::<usize>()
            })
            .sum()
    }

    pub fn counters(&self) -> Counters {
        lock(&self.counters).clone()
    }

    async fn flush_due(&self, all: bool) {
        let _one = self.flushing.lock().await;
        for stream in &self.streams {
            let due: Vec<Buffer> = {
                let mut buffers = lock(&stream.buffers);
                let keys: Vec<String> = buffers
                    .iter()
                    .filter(|(_, b)| {
                        all || b.since.elapsed() >= stream.spec.interval
                            || b.bytes >= stream.spec.size_bytes
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                keys.iter().filter_map(|k| buffers.remove(k)).collect()
            };
            for buffer in due {
                if let Err(e) = self.write(&stream.spec, buffer).await {
                    lock(&self.counters).write_errors += 1;
                    tracing::error!(target: "eventmart_local::firehose", "{e}");
                }
            }
        }
    }

    /// One buffer → one object (and error records, if any).
    async fn write(&self, spec: &StreamSpec, buffer: Buffer) -> Result<(), FirehoseError> {
        let arrival = buffer.records.first().map_or_else(Utc::now, |r| r.at);
        let mut rows = Vec::new();
        let mut failed = Vec::new();
        for r in &buffer.records {
            match &spec.conversion {
                None => rows.push(None),
                Some(c) => {
                    let parsed = serde_json::from_slice::<Value>(&r.data)
                        .map_err(|e| {
                            (
                                "DataFormatConversion.MalformedData".to_owned(),
                                e.to_string(),
                            )
                        })
                        .and_then(|v| {
                            conform(&v, &c.schema, &c.timestamp_formats)
                                .map_err(|e| (e.error_code().to_owned(), e.to_string()))
                        });
                    match parsed {
                        Ok(row) => rows.push(Some(row)),
                        Err((code, message)) => failed.push(error_record(r, &code, &message)),
                    }
                }
            }
        }
        let values = PrefixValues {
            keys: &buffer.keys,
            arrival,
            error_output_type: None,
        };
        if !rows.is_empty() {
            let key = format!(
                "{}{}-1-{}-{}{}",
                spec.prefix.expand(&values),
                spec.name,
                arrival.format("%Y-%m-%d-%H-%M-%S"),
                uuid::Uuid::new_v4(),
                spec.file_extension
            );
            let body = match &spec.conversion {
                Some(c) => {
                    let rows: Vec<_> = rows.into_iter().flatten().collect();
                    let path = self.local_path(spec, &key);
                    write_parquet(&rows, &c.schema, &path)
                        .map_err(|e| write_error(spec, &key, e))?;
                    std::fs::read(&path).map_err(|e| write_error(spec, &key, e))?
                }
                // Without conversion Firehose concatenates the records as they came.
                None => buffer.records.iter().flat_map(|r| r.data.clone()).collect(),
            };
            self.put(spec, &key, body, spec.conversion.is_none())
                .await?;
            let mut c = lock(&self.counters);
            c.objects += 1;
            c.records += (buffer.records.len() - failed.len()) as u64;
        }
        if !failed.is_empty() {
            let values = PrefixValues {
                error_output_type: Some("format-conversion-failed"),
                ..values
            };
            self.put_errors(spec, &values, &failed).await?;
        }
        Ok(())
    }

    async fn put_errors(
        &self,
        spec: &StreamSpec,
        values: &PrefixValues<'_>,
        failed: &[Value],
    ) -> Result<(), FirehoseError> {
        let key = format!(
            "{}{}-1-{}-{}",
            spec.error_prefix.expand(values),
            spec.name,
            values.arrival.format("%Y-%m-%d-%H-%M-%S"),
            uuid::Uuid::new_v4()
        );
        let body: String = failed.iter().map(|v| format!("{v}\n")).collect();
        self.put(spec, &key, body.into_bytes(), true).await?;
        lock(&self.counters).error_records += failed.len() as u64;
        Ok(())
    }

    /// To the bucket, and the local copy (already written for Parquet).
    async fn put(
        &self,
        spec: &StreamSpec,
        key: &str,
        body: Vec<u8>,
        copy: bool,
    ) -> Result<(), FirehoseError> {
        if copy {
            let path = self.local_path(spec, key);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| write_error(spec, key, e))?;
            }
            std::fs::write(&path, &body).map_err(|e| write_error(spec, key, e))?;
        }
        self.store
            .put(&spec.bucket, key, body)
            .await
            .map_err(|e| write_error(spec, key, e))
    }

    fn local_path(&self, spec: &StreamSpec, key: &str) -> PathBuf {
        let path = self.local.join(&spec.bucket).join(key);
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        path
    }

    fn accept(&self, stream: &Stream, data: Vec<u8>) -> Result<Option<Value>, PutRecordError> {
        let at = Utc::now();
        let arrived = Arrived { data, at };
        let keys = match &stream.spec.partitioning {
            None => Vec::new(),
            Some(q) => {
                let keys = serde_json::from_slice::<Value>(&arrived.data)
                    .map_err(|_| expr::PartitionError::NotObject)
                    .and_then(|v| q.evaluate(&v));
                match keys {
                    Ok(keys) => keys,
                    Err(e) => {
                        return Ok(Some(error_record(
                            &arrived,
                            "DynamicPartitioning.MetadataExtractionFailed",
                            &e.to_string(),
                        )));
                    }
                }
            }
        };
        let id: Vec<String> = keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut buffers = lock(&stream.buffers);
        let buffer = buffers.entry(id.join("/")).or_insert_with(|| Buffer {
            keys,
            records: Vec::new(),
            bytes: 0,
            since: Instant::now(),
        });
        buffer.bytes += arrived.data.len();
        buffer.records.push(arrived);
        Ok(None)
    }
}

impl RecordSink for DeliveryStreams {
    fn put_record(&self, stream: &str, data: Vec<u8>) -> BoxFuture<'_, Result<(), PutRecordError>> {
        let found = self.streams.iter().find(|s| s.spec.name == stream).cloned();
        let name = stream.to_owned();
        Box::pin(async move {
            let stream = found.ok_or(PutRecordError::NoSuchStream(name))?;
            // A record that cannot be partitioned is accepted, and written as an error.
            if let Some(failed) = self.accept(&stream, data)? {
                let values = PrefixValues {
                    keys: &[],
                    arrival: Utc::now(),
                    error_output_type: Some("partitioning-failed"),
                };
                self.put_errors(&stream.spec, &values, &[failed])
                    .await
                    .map_err(|e| PutRecordError::Unavailable {
                        stream: stream.spec.name.clone(),
                        reason: e.to_string(),
                    })?;
            }
            Ok(())
        })
    }
}

/// A record Firehose could not deliver, as its error objects carry it.
fn error_record(r: &Arrived, code: &str, message: &str) -> Value {
    json!({
        "attemptsMade": 1,
        "arrivalTimestamp": r.at.timestamp_millis(),
        "errorCode": code,
        "errorMessage": message,
        "attemptEndingTimestamp": Utc::now().timestamp_millis(),
        "rawData": crate::encoding::base64_encode(&r.data),
    })
}

fn write_error(spec: &StreamSpec, key: &str, e: impl std::fmt::Display) -> FirehoseError {
    FirehoseError::Write {
        stream: spec.name.clone(),
        key: key.to_owned(),
        message: e.to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests;
