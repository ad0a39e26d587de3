//! Idempotent handlers for at-least-once delivery, on DynamoDB.
//!
//! The guarantees of AWS Lambda Powertools' idempotency utility (which has no Rust
//! version), and more:
//!
//! * one record per `(function, key)`, claimed with one conditional write that succeeds
//!   only where no record exists, the record has expired, or it is `INPROGRESS` past its
//!   in-progress expiry; when the condition fails the old record comes back in the same
//!   call (`ReturnValuesOnConditionCheckFailure = ALL_OLD`), so a duplicate costs one
//!   request;
//! * a completed duplicate gets the stored result and the handler does not run; a
//!   concurrent duplicate waits for the holder inside its own deadline, then gets
//!   [`IdempotencyError::AlreadyInProgress`] (retryable); a handler error deletes the
//!   record so that the retry runs;
//! * payload validation, record expiry enforced by the condition (a TTL attribute only
//!   tidies up), an optional in-memory cache of completed records;
//! * [`Idempotency::run_transactional`]: the record and the caller's writes commit in one
//!   transaction, so the effect happens exactly once with no window between "done" and
//!   "recorded";
//! * every error says whether a retry can help ([`Retryable`]); a handler's own error
//!   keeps its class through [`IdempotencyError::Handler`].
//!
//! Requests per event, counted against DynamoDB: a first delivery costs a `PutItem` and an
//! `UpdateItem` (claim, complete); a duplicate one `PutItem`; in transactional mode, either
//! costs one `TransactWriteItems`.
//!
//! ```
//! use dynamodb_idempotency::{Config, Idempotency, IdempotencyError, InMemoryStore};
//! use serde_json::json;
//! use std::convert::Infallible;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! // `DynamoStore::new(client, table)` in a deployed function.
//! let idempotency = Idempotency::new(InMemoryStore::default(), Config::for_eventbridge("mailer"));
//! let event = json!({"detail": {"metadata": {"eventId": "e-1"}, "data": {"to": "ada"}}});
//!
//! let mut sent = 0;
//! for _delivery in 0..3 {
//!     let receipt: Result<String, IdempotencyError<Infallible>> = idempotency
//!         .run(&event, None, || async {
//!             sent += 1;
//!             Ok("message-1".to_owned())
//!         })
//!         .await;
//!     assert_eq!(receipt.unwrap(), "message-1");
//! }
//! assert_eq!(sent, 1);
//! # }
//! ```

// The README's examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

mod dynamodb;
mod memory;
mod record;

pub use dynamodb::{DynamoStore, attr, cancellation_codes};
pub use memory::{Condition, InMemoryStore, InMemoryWrite};
pub use record::{Record, Status};
pub use retryable::Retryable;

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
pub type EpochMillis = i64;

/// What the store found when a claim's condition failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The record was written: this invocation owns the key.
    Claimed,
    /// A live record exists; here it is (returned by the failed condition itself).
    Exists(Record),
}

/// Persistence of idempotency records. [`DynamoStore`] is the real one,
/// [`InMemoryStore`] serves unit tests of handlers.
pub trait Store: Send + Sync {
    /// A business write that [`Store::commit`] applies in the same transaction as the record.
    type Write: Send;

    /// Writes `record` (INPROGRESS) unless a live record holds its key (see module docs).
    fn claim(
        &self,
        record: &Record,
        now: EpochMillis,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;

    /// Marks a claimed record COMPLETED with its result.
    fn complete(&self, record: &Record) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes a claimed record so that a retry runs the handler again.
    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Applies `writes` atomically, with no record (for callers without a key).
    fn write(
        &self,
        writes: Vec<Self::Write>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Writes `record` (COMPLETED) and `writes` atomically, under the same condition as
    /// [`Store::claim`].
    fn commit(
        &self,
        record: &Record,
        writes: Vec<Self::Write>,
        now: EpochMillis,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send;
}

/// What an invocation keeps for itself past its last store call: answering in time
/// matters more than any write that would finish later.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(300);

/// Runs `work` unless the invocation's `deadline` (less [`DEADLINE_MARGIN`]) comes
/// first: `None` when out of time. No deadline, no limit.
pub async fn within<T>(deadline: Option<SystemTime>, work: impl Future<Output = T>) -> Option<T> {
    let Some(deadline) = deadline else {
        return Some(work.await);
    };
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default()
        .saturating_sub(DEADLINE_MARGIN);
    tokio::time::timeout(left, work).await.ok()
}

/// A shared store is a store: the handler holds one handle, a test or a repository
/// over the same memory another.
impl<S: Store> Store for std::sync::Arc<S> {
    type Write = S::Write;

    fn claim(
        &self,
        record: &Record,
        now: EpochMillis,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).claim(record, now)
    }

    fn complete(&self, record: &Record) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).complete(record)
    }

    fn release(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release(key)
    }

    fn write(
        &self,
        writes: Vec<Self::Write>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).write(writes)
    }

    fn commit(
        &self,
        record: &Record,
        writes: Vec<Self::Write>,
        now: EpochMillis,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        (**self).commit(record, writes, now)
    }
}

/// A store failure: what went wrong, whether trying again can help
/// ([`Retryable::is_retryable`]), and which of a transaction's conditions failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("idempotency store: {message}")]
pub struct StoreError {
    pub message: String,
    retryable: bool,
    /// Positions of the transaction's items whose condition failed (the record, when
    /// there is one, is item 0; the caller's writes follow in order).
    pub conditions_failed: Vec<usize>,
}

impl StoreError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
            conditions_failed: vec![],
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
            conditions_failed: vec![],
        }
    }

    /// A failure of the AWS SDK, classified by [`retryable::sdk::is_retryable`].
    pub fn sdk<E>(
        e: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
    ) -> Self
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        Self {
            message: retryable::sdk::describe(e),
            retryable: retryable::sdk::is_retryable(e),
            conditions_failed: vec![],
        }
    }

    /// The same failure, naming the transaction items whose condition failed.
    pub fn with_conditions_failed(mut self, positions: Vec<usize>) -> Self {
        self.conditions_failed = positions;
        self
    }
}

impl Retryable for StoreError {
    fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Why an idempotent call did not return the handler's result.
#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError<E> {
    /// The key pointer found nothing usable in the event.
    #[error("idempotency key `{pointer}` is missing or null in the event")]
    KeyMissing { pointer: String },
    /// Another invocation holds the key right now.
    #[error("event `{key}` is already being processed by another invocation")]
    AlreadyInProgress { key: String },
    /// The key was seen before with a different payload.
    #[error("event `{key}` was already processed with a different payload")]
    PayloadMismatch { key: String },
    /// The stored result does not deserialize into the handler's output type.
    #[error("stored result for `{key}` is unreadable: {reason}")]
    CorruptRecord { key: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The handler failed; its record was released so that a retry runs it again.
    #[error("handler failed: {0}")]
    Handler(E),
}

/// Whether a retry of the same event can succeed: a concurrent duplicate can, a
/// missing key or a payload mismatch cannot, and the store's and the handler's errors
/// classify themselves, so a permanent handler error stays permanent.
impl<E: Retryable> Retryable for IdempotencyError<E> {
    fn is_retryable(&self) -> bool {
        match self {
            IdempotencyError::KeyMissing { .. }
            | IdempotencyError::PayloadMismatch { .. }
            | IdempotencyError::CorruptRecord { .. } => false,
            IdempotencyError::AlreadyInProgress { .. } => true,
            IdempotencyError::Store(e) => e.is_retryable(),
            IdempotencyError::Handler(e) => e.is_retryable(),
        }
    }
}

/// The clock, replaceable in tests.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// How records are keyed, validated and expired.
#[derive(Clone)]
pub struct Config {
    /// Prefix of every key: one table serves every function.
    pub function_name: String,
    /// JSON Pointer (RFC 6901) to the key in the event.
    pub key_pointer: String,
    /// JSON Pointer to the part of the event whose hash is validated; `None` turns
    /// payload validation off.
    pub payload_pointer: Option<String>,
    /// How long a completed record answers duplicates.
    pub expires_after: Duration,
    /// Completed records kept in memory (0: no cache).
    pub cache_capacity: usize,
    /// A duplicate that finds the key INPROGRESS waits, inside its own deadline, for that
    /// claim to complete (it answers with the result) or to expire (it takes the key
    /// over), instead of failing at once. See [`Idempotency::run`].
    pub wait_for_in_progress: bool,
    pub clock: Clock,
}

impl Config {
    /// Keyed on `detail.metadata.eventId`, validating `detail`, records kept 24 hours
    /// (EventBridge's maximum event age), no cache.
    pub fn for_eventbridge(function_name: impl Into<String>) -> Self {
        Self {
            function_name: function_name.into(),
            key_pointer: "/detail/metadata/eventId".into(),
            payload_pointer: Some("/detail".into()),
            expires_after: Duration::from_secs(24 * 3600),
            cache_capacity: 0,
            wait_for_in_progress: true,
            clock: Arc::new(SystemTime::now),
        }
    }

    pub fn with_cache(mut self, capacity: usize) -> Self {
        self.cache_capacity = capacity;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn with_wait_for_in_progress(mut self, wait: bool) -> Self {
        self.wait_for_in_progress = wait;
        self
    }

    pub fn with_expiry(mut self, expires_after: Duration) -> Self {
        self.expires_after = expires_after;
        self
    }

    pub fn with_key_pointer(mut self, pointer: impl Into<String>) -> Self {
        self.key_pointer = pointer.into();
        self
    }

    pub fn with_payload_pointer(mut self, pointer: Option<String>) -> Self {
        self.payload_pointer = pointer;
        self
    }
}

/// How often a duplicate waiting on an INPROGRESS claim looks again.
const IN_PROGRESS_POLL: Duration = Duration::from_millis(250);
/// What a waiting duplicate keeps of its own time for the handler after the claim expires.
const TAKE_OVER_MARGIN: Duration = Duration::from_secs(1);

/// How long an INPROGRESS claim stands when the caller has no Lambda deadline:
/// Lambda's longest timeout.
pub const DEFAULT_IN_PROGRESS: Duration = Duration::from_secs(15 * 60);

/// Makes handlers idempotent over a [`Store`].
pub struct Idempotency<S> {
    store: S,
    config: Config,
    cache: Option<Mutex<Lru>>,
}

impl<S: Store> Idempotency<S> {
    pub fn new(store: S, config: Config) -> Self {
        let cache =
            (config.cache_capacity > 0).then(|| Mutex::new(Lru::new(config.cache_capacity)));
        Self {
            store,
            config,
            cache,
        }
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    fn now(&self) -> EpochMillis {
        millis((self.config.clock)())
    }

    /// Runs `handler` at most once per key while its record lives.
    ///
    /// `deadline` is the invocation's deadline (the Lambda context's): a claim left
    /// INPROGRESS by an invocation that died is taken over once it has passed.
    ///
    /// A concurrent duplicate (EventBridge delivers some events twice, at once) finds the
    /// key INPROGRESS. With [`Config::wait_for_in_progress`] it looks again every 250 ms
    /// until its own deadline less a second: it answers from the record once the holder
    /// completes, or takes the claim over once it expires (the holder died), or, out of
    /// time, fails as in progress for Lambda to retry. Failing at once instead sends every
    /// duplicate into Lambda's async retries, where it can race a dead holder's own retries
    /// until both run out and the duplicate lands in the dead-letter queue although its
    /// event was processed.
    pub async fn run<T, E, F, Fut>(
        &self,
        event: &serde_json::Value,
        deadline: Option<SystemTime>,
        handler: F,
    ) -> Result<T, IdempotencyError<E>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let now = self.now();
        let mut record = self.new_record(event, now)?;
        if let Some(hit) = self.cached(&record, now) {
            return hit;
        }
        record.in_progress_expiry = Some(
            deadline
                .map(millis)
                .unwrap_or(now + DEFAULT_IN_PROGRESS.as_millis() as i64),
        );
        let mut waited_until: Option<tokio::time::Instant> = None;
        let claim = loop {
            let now = self.now();
            match self.store.claim(&record, now).await? {
                Claim::Exists(old) => {
                    match self.wait_for(&record, &old, deadline, now, &mut waited_until) {
                        Some(pause) => tokio::time::sleep(pause).await,
                        None => break Claim::Exists(old),
                    }
                }
                claimed => break claimed,
            }
        };
        match claim {
            Claim::Exists(old) => self.replay(&record, old),
            Claim::Claimed => match handler().await {
                Ok(result) => {
                    record.status = Status::Completed;
                    record.in_progress_expiry = None;
                    record.data = Some(to_json(&result));
                    // The effect has happened. Failing now, or being killed at the deadline
                    // while the store's retries go on, would make Lambda run it again once
                    // the claim expires; returning the result in time does not.
                    match within(deadline, self.store.complete(&record)).await {
                        Some(Ok(())) => self.remember(&record),
                        Some(Err(e)) => {
                            tracing::warn!(key = %record.key, error = %e, "could not mark record COMPLETED; it stays INPROGRESS until its deadline")
                        }
                        None => {
                            tracing::warn!(key = %record.key, "no time left to mark record COMPLETED; it stays INPROGRESS until its deadline")
                        }
                    }
                    Ok(result)
                }
                Err(e) => {
                    if let Err(store) = self.store.release(&record.key).await {
                        tracing::warn!(key = %record.key, error = %store, "could not release record after handler error; a retry waits for the claim's deadline");
                    }
                    Err(IdempotencyError::Handler(e))
                }
            },
        }
    }

    /// Exactly-once for handlers whose effect is a set of store writes: the handler
    /// computes its result and writes (it may read, it must not write), and the record
    /// (COMPLETED) and the writes commit in one transaction. A duplicate is answered from
    /// the failed condition: one request either way.
    pub async fn run_transactional<T, E, F, Fut>(
        &self,
        event: &serde_json::Value,
        handler: F,
    ) -> Result<T, IdempotencyError<E>>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(T, Vec<S::Write>), E>>,
    {
        let now = self.now();
        let mut record = self.new_record(event, now)?;
        if let Some(hit) = self.cached(&record, now) {
            return hit;
        }
        let (result, writes) = handler().await.map_err(IdempotencyError::Handler)?;
        record.status = Status::Completed;
        record.data = Some(to_json(&result));
        match self.store.commit(&record, writes, now).await? {
            Claim::Claimed => {
                self.remember(&record);
                Ok(result)
            }
            Claim::Exists(old) => self.replay(&record, old),
        }
    }

    /// The key this event is recorded under.
    pub fn key_of<E>(&self, event: &serde_json::Value) -> Result<String, IdempotencyError<E>> {
        let value = event
            .pointer(&self.config.key_pointer)
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
            .ok_or_else(|| IdempotencyError::KeyMissing {
                pointer: self.config.key_pointer.clone(),
            })?;
        let key = match value.as_str() {
            Some(s) => s.to_owned(),
            None => hash(value),
        };
        Ok(format!("{}#{}", self.config.function_name, key))
    }

    fn new_record<E>(
        &self,
        event: &serde_json::Value,
        now: EpochMillis,
    ) -> Result<Record, IdempotencyError<E>> {
        let key = self.key_of(event)?;
        let payload_hash = self
            .config
            .payload_pointer
            .as_ref()
            .map(|p| hash(event.pointer(p).unwrap_or(&serde_json::Value::Null)));
        Ok(Record {
            key,
            status: Status::InProgress,
            expiry: now / 1000 + self.config.expires_after.as_secs() as i64,
            in_progress_expiry: None,
            data: None,
            payload_hash,
        })
    }

    /// How long to pause before claiming again while `old` is an INPROGRESS claim and
    /// this invocation has time left to run the handler after it; `None`: answer now.
    fn wait_for(
        &self,
        mine: &Record,
        old: &Record,
        deadline: Option<SystemTime>,
        now: EpochMillis,
        waited_until: &mut Option<tokio::time::Instant>,
    ) -> Option<Duration> {
        if !self.config.wait_for_in_progress
            || old.status != Status::InProgress
            || self.check_payload::<()>(mine, old).is_err()
        {
            return None;
        }
        let latest = millis(deadline?) - TAKE_OVER_MARGIN.as_millis() as i64;
        if now >= latest {
            return None;
        }
        // Bounded in real time too, whatever the configured clock says.
        let until = *waited_until.get_or_insert_with(|| {
            tokio::time::Instant::now() + Duration::from_millis((latest - now) as u64)
        });
        let left = until.checked_duration_since(tokio::time::Instant::now())?;
        let to_expiry = old
            .in_progress_expiry
            .map(|e| Duration::from_millis((e - now).max(0) as u64 + 10))
            .unwrap_or(IN_PROGRESS_POLL);
        Some(IN_PROGRESS_POLL.min(to_expiry).min(left))
    }

    /// The answer to a duplicate whose live record came back from the store.
    fn replay<T: DeserializeOwned, E>(
        &self,
        mine: &Record,
        old: Record,
    ) -> Result<T, IdempotencyError<E>> {
        self.check_payload(mine, &old)?;
        match old.status {
            Status::InProgress => Err(IdempotencyError::AlreadyInProgress { key: old.key }),
            Status::Completed => {
                let value = decode(&old)?;
                self.remember(&old);
                Ok(value)
            }
        }
    }

    fn check_payload<E>(&self, mine: &Record, old: &Record) -> Result<(), IdempotencyError<E>> {
        match (&mine.payload_hash, &old.payload_hash) {
            (Some(a), Some(b)) if a != b => Err(IdempotencyError::PayloadMismatch {
                key: mine.key.clone(),
            }),
            _ => Ok(()),
        }
    }

    fn cached<T: DeserializeOwned, E>(
        &self,
        mine: &Record,
        now: EpochMillis,
    ) -> Option<Result<T, IdempotencyError<E>>> {
        let cache = self.cache.as_ref()?;
        let old = cache.lock().ok()?.get(&mine.key, now)?;
        Some(self.check_payload(mine, &old).and_then(|_| decode(&old)))
    }

    fn remember(&self, record: &Record) {
        if let Some(Ok(mut c)) = self.cache.as_ref().map(|c| c.lock()) {
            c.put(record.clone());
        }
    }
}

fn decode<T: DeserializeOwned, E>(record: &Record) -> Result<T, IdempotencyError<E>> {
    let data = record.data.as_deref().unwrap_or("null");
    serde_json::from_str(data).map_err(|e| IdempotencyError::CorruptRecord {
        key: record.key.clone(),
        reason: e.to_string(),
    })
}

fn to_json<T: Serialize>(v: &T) -> String {
    // A result that cannot be serialized is stored as null and replays as such; every
    // handler output in this project is plain data.
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// SHA-256 of a value's JSON (object keys sorted, so equal values hash equally).
pub fn hash(value: &serde_json::Value) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn millis(t: SystemTime) -> EpochMillis {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A small least-recently-inserted cache of completed records.
struct Lru {
    capacity: usize,
    map: HashMap<String, Record>,
    order: VecDeque<String>,
}

impl Lru {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&mut self, key: &str, now: EpochMillis) -> Option<Record> {
        let rec = self.map.get(key)?;
        if rec.is_expired(now) {
            self.map.remove(key);
            return None;
        }
        Some(rec.clone())
    }

    fn put(&mut self, record: Record) {
        if record.status != Status::Completed {
            return;
        }
        if self
            .map
            .insert(record.key.clone(), record.clone())
            .is_none()
        {
            self.order.push_back(record.key);
            while self.order.len() > self.capacity {
                if let Some(k) = self.order.pop_front() {
                    self.map.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
