//! The local EventBridge bus: the EventBridge JSON API on a loopback port, rule routing
//! with the pattern engine, asynchronous delivery with EventBridge's retry policy and
//! dead-letter queue, Lambda's async-invoke retries and on-failure destination, an
//! in-memory archive with replay (StartReplay), and chaos (duplicates, reordering).
//!
//! A target is a function (invoked asynchronously) or a Firehose delivery stream (a
//! [`RecordSink`]), and receives the event or what its `Input`, `InputPath` or
//! `InputTransformer` makes of it ([`transform`]). A target input that cannot be made
//! (an `InputPath` that selects nothing, a JSON template whose result is not JSON, text
//! for a function) fails that delivery, which goes to the dead-letter queue.
//!
//! Two failure layers, as on AWS (a delivery stream has only the first):
//! - *delivery* (EventBridge could not hand the event to Lambda: the function does not
//!   exist) is retried with exponential backoff up to the rule target's [`RetryPolicy`],
//!   then sent to the target's dead-letter queue with the message attributes
//!   `RULE_ARN`, `TARGET_ARN`, `ERROR_CODE`, `ERROR_MESSAGE` (and `RETRY_ATTEMPTS`);
//! - once Lambda accepted the event, a *function error* (error, timeout, crash) is retried
//!   [`AsyncInvoke::max_retry_attempts`] times, dropped past its maximum event age, then
//!   sent to the on-failure queue as the destination record Lambda writes.
//!
//! Logs: one line per delivery attempt, written to **stderr** (so that a CLI's stdout
//! stays its own) in the format chosen by [`LogMode`]; see [`DeliveryRecord`].
//!
//! ```no_run
//! # async fn demo(invoker: std::sync::Arc<dyn eventmart_local::lambda::Invoker>,
//! #               sqs: aws_sdk_sqs::Client) -> Result<(), eventmart_local::eventbridge::BusError> {
//! use eventmart_local::eventbridge::*;
//! let rule = RuleSpec::parse("Items", "shop", r#"{"source":["shop.items"]}"#,
//!     TargetSpec::new("IndexFunction"))?;
//! let bus = Bus::start(vec![BusSpec::new("shop")], vec![rule], invoker, sqs,
//!     BusOptions::default(), "127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()).await?;
//! println!("AWS_ENDPOINT_URL_EVENTBRIDGE={}", bus.endpoint_url());
//! bus.idle().await;
//! bus.stop().await;
//! # Ok(()) }
//! ```

mod api;
mod archive;
mod deliver;
mod log;
mod request;
pub mod transform;

/// Every bus of the template, and the default bus (first) when the template has none of
/// that name; without rules yet.
fn bus_states(buses: Vec<BusSpec>, options: &BusOptions) -> Vec<BusState> {
    let mut specs = buses;
    if !specs.iter().any(|b| b.name == "default") {
        specs.insert(0, BusSpec::new("default"));
    }
    let (region, account) = (&options.region, &options.account_id);
    specs
        .into_iter()
        .map(|spec| BusState {
            arn: format!("arn:aws:events:{region}:{account}:event-bus/{}", spec.name),
            spec,
            rules: Vec::new(),
            matcher: RuleSet::default(),
        })
        .collect()
}

/// Each rule onto its bus, named uniquely there.
fn add_rules(
    states: &mut [BusState],
    rules: Vec<RuleSpec>,
    region: &str,
    account: &str,
) -> Result<(), BusError> {
    for r in rules {
        let Some(state) = states.iter_mut().find(|b| b.spec.name == r.bus) else {
            return Err(BusError::UnknownBus {
                rule: r.name,
                bus: r.bus,
            });
        };
        if state.rules.iter().any(|x| x.spec.name == r.name) {
            return Err(BusError::DuplicateRule {
                rule: r.name,
                bus: r.bus,
            });
        }
        let arn = if r.bus == "default" {
            format!("arn:aws:events:{region}:{account}:rule/{}", r.name)
        } else {
            format!(
                "arn:aws:events:{region}:{account}:rule/{}/{}",
                r.bus, r.name
            )
        };
        let target_arn = match &r.target.destination {
            Destination::Lambda(f) => function_arn(region, account, f),
            Destination::Firehose(stream) => {
                format!("arn:aws:firehose:{region}:{account}:deliverystream/{stream}")
            }
        };
        state.rules.push(Arc::new(Rule {
            spec: r,
            arn,
            target_arn,
        }));
    }
    Ok(())
}

/// Archive names are unique across buses (as in an account and region).
fn check_archive_names(states: &[BusState]) -> Result<(), BusError> {
    let mut archives = std::collections::BTreeSet::new();
    for a in states.iter().flat_map(|s| &s.spec.archives) {
        if !archives.insert(a.name.clone()) {
            return Err(BusError::DuplicateArchive {
                archive: a.name.clone(),
            });
        }
    }
    Ok(())
}

/// The API's listener: bound here to an address, or one already bound.
async fn bind(listen: Listen) -> Result<(tokio::net::TcpListener, SocketAddr), BusError> {
    Ok(match listen {
        Listen::Addr(addr) => (
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| BusError::Bind { addr, source })?,
            addr,
        ),
        Listen::Bound(std) => {
            let addr = std
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
            let listener = std
                .set_nonblocking(true)
                .and_then(|()| tokio::net::TcpListener::from_std(std))
                .map_err(|source| BusError::Bind { addr, source })?;
            (listener, addr)
        }
    })
}

#[cfg(test)]
mod tests;

pub use api::{EntryError, MAX_BODY_BYTES, MAX_ENTRIES, MAX_REQUEST_BYTES, PutEventsEntry};
pub use archive::{ArchiveSpec, ArchivedEvent, Replay, ReplayRequest};
pub use log::{DeliveryRecord, Outcome, Stage};
pub use request::ApiError;

use crate::aws::function_arn;
use crate::chaos::Chaos;
use crate::lambda::{BoxFuture, Invoker};
use crate::log::LogMode;
use crate::pattern::{Pattern, PatternError, RuleSet};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use transform::TargetInput;

/// An event bus. The `default` bus always exists, as in every AWS account.
#[derive(Debug, Clone)]
pub struct BusSpec {
    pub name: String,
    /// Its archives (`AWS::Events::Archive`); none keeps nothing.
    pub archives: Vec<ArchiveSpec>,
}

impl BusSpec {
    pub fn new(name: impl Into<String>) -> Self {
        BusSpec {
            name: name.into(),
            archives: Vec::new(),
        }
    }

    pub fn with_archive(mut self, archive: ArchiveSpec) -> Self {
        self.archives.push(archive);
        self
    }
}

/// A rule with one target (what a SAM `EventBridgeRule` event creates; an
/// `AWS::Events::Rule` gives one per target).
#[derive(Debug, Clone)]
pub struct RuleSpec {
    pub name: String,
    /// The bus name (not ARN).
    pub bus: String,
    pub pattern: Pattern,
    /// The pattern as JSON text, returned by DescribeRule and ListRules.
    pub pattern_json: String,
    pub target: TargetSpec,
    /// The target function's `EventInvokeConfig`.
    pub async_invoke: AsyncInvoke,
    /// `State: DISABLED` gives false: the rule is listed but matches nothing.
    pub enabled: bool,
}

impl RuleSpec {
    /// A rule whose pattern is parsed from `pattern_json`, with AWS's default async-invoke
    /// config.
    pub fn parse(
        name: impl Into<String>,
        bus: impl Into<String>,
        pattern_json: &str,
        target: TargetSpec,
    ) -> Result<RuleSpec, PatternError> {
        Ok(RuleSpec {
            name: name.into(),
            bus: bus.into(),
            pattern: Pattern::parse(pattern_json)?,
            pattern_json: pattern_json.to_owned(),
            target,
            async_invoke: AsyncInvoke::default(),
            enabled: true,
        })
    }
}

/// A rule's target: what it delivers to, the input it hands over, its `RetryPolicy` and
/// `DeadLetterConfig`.
#[derive(Debug, Clone)]
pub struct TargetSpec {
    /// The target's `Id` (ListTargetsByRule).
    pub id: String,
    pub destination: Destination,
    /// `Input`, `InputPath` or `InputTransformer` (the whole event when none).
    pub input: TargetInput,
    pub retry: RetryPolicy,
    /// Queue URL of the rule's `DeadLetterConfig`.
    pub dead_letter_queue_url: Option<String>,
}

/// What a target delivers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// A function, by its template logical id, as the [`Invoker`] knows it.
    Lambda(String),
    /// A Firehose delivery stream, by name, as the [`RecordSink`] knows it.
    Firehose(String),
}

impl Destination {
    /// The function's logical id or the stream's name.
    pub fn name(&self) -> &str {
        match self {
            Destination::Lambda(n) | Destination::Firehose(n) => n,
        }
    }
}

impl TargetSpec {
    /// A function target with EventBridge's default retry policy, the whole event as
    /// input and no dead-letter queue.
    pub fn new(function: impl Into<String>) -> Self {
        let function = function.into();
        TargetSpec {
            id: function.clone(),
            destination: Destination::Lambda(function),
            input: TargetInput::Whole,
            retry: RetryPolicy::default(),
            dead_letter_queue_url: None,
        }
    }
}

/// Where Firehose targets put their records (`PutRecord`): the local delivery streams.
pub trait RecordSink: Send + Sync {
    fn put_record(&self, stream: &str, data: Vec<u8>) -> BoxFuture<'_, Result<(), PutRecordError>>;
}

/// Why a record was not accepted. Both are delivery failures, retried per the target's
/// retry policy, then dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PutRecordError {
    /// AWS's `ResourceNotFoundException`.
    #[error("delivery stream {0} does not exist")]
    NoSuchStream(String),
    #[error("delivery stream {stream} did not accept the record: {reason}")]
    Unavailable { stream: String, reason: String },
}

impl PutRecordError {
    /// The `ERROR_CODE` a dead-letter message carries.
    pub fn error_code(&self) -> &'static str {
        match self {
            PutRecordError::NoSuchStream(_) => "ResourceNotFoundException",
            PutRecordError::Unavailable { .. } => "ServiceUnavailableException",
        }
    }
}

/// EventBridge's delivery retry policy. `max_attempts` counts retries after the first
/// attempt (`MaximumRetryAttempts`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub max_event_age: Duration,
}

impl Default for RetryPolicy {
    /// AWS's default: 185 retries over 24 hours.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 185,
            max_event_age: Duration::from_secs(86_400),
        }
    }
}

/// Lambda's `EventInvokeConfig` for asynchronous invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncInvoke {
    /// Retries of a function error after the first invocation (0..=2 on AWS).
    pub max_retry_attempts: u32,
    /// Past this age (since Lambda accepted the event) no retry is made.
    pub max_event_age: Duration,
    /// Queue URL of the `OnFailure` destination.
    pub on_failure_queue_url: Option<String>,
    /// The function's timeout: a retry waits at least this long from the failed run's
    /// start, as AWS's minute-long retry delays always do.
    pub function_timeout: Duration,
}

impl Default for AsyncInvoke {
    /// AWS's default: 2 retries, 6 hours, no destination.
    fn default() -> Self {
        AsyncInvoke {
            max_retry_attempts: 2,
            max_event_age: Duration::from_secs(21_600),
            on_failure_queue_url: None,
            function_timeout: Duration::from_secs(3),
        }
    }
}

/// AWS's delays, scalable so that tests and demos run fast. Event ages are not scaled:
/// they are the specs' own.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// EventBridge's first delivery retry delay; doubles per attempt (with jitter).
    pub backoff_base: Duration,
    /// EventBridge's longest delay between delivery retries.
    pub backoff_cap: Duration,
    /// Lambda's delays before its 1st, 2nd, ... async retry; the last repeats.
    pub async_retry_delays: Vec<Duration>,
}

impl Timing {
    /// Roughly AWS's own delays: backoff from 1 s up to 5 min; Lambda retries after about
    /// 1 and 2 minutes.
    pub fn aws() -> Self {
        Timing {
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            async_retry_delays: vec![Duration::from_secs(60), Duration::from_secs(120)],
        }
    }

    /// AWS's delays multiplied by `factor` (e.g. `0.001` for tests).
    pub fn scaled(&self, factor: f64) -> Self {
        let f = |d: Duration| d.mul_f64(factor.clamp(0.0, 1e6));
        Timing {
            backoff_base: f(self.backoff_base),
            backoff_cap: f(self.backoff_cap),
            async_retry_delays: self.async_retry_delays.iter().map(|d| f(*d)).collect(),
        }
    }

    /// How far AWS's delays are scaled (1 for AWS's own), for other services' delays
    /// (a delivery stream's buffer interval) to follow.
    pub fn factor(&self) -> f64 {
        self.backoff_base.as_secs_f64() / Timing::aws().backoff_base.as_secs_f64()
    }

    /// Delays small enough for tests: AWS's scaled by 1/1000.
    pub fn fast() -> Self {
        Self::aws().scaled(0.001)
    }

    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX));
        let d = exp.min(self.backoff_cap);
        // Jitter in [d/2, d], as AWS spreads retries.
        d.mul_f64(0.5 + fastrand::f64() / 2.0)
    }

    pub(crate) fn async_delay(&self, retry: u32) -> Duration {
        let i = (retry as usize).saturating_sub(1);
        self.async_retry_delays
            .get(i)
            .or(self.async_retry_delays.last())
            .copied()
            .unwrap_or_default()
    }
}

impl Default for Timing {
    fn default() -> Self {
        Self::aws()
    }
}

/// How the bus behaves besides its rules.
#[derive(Clone)]
pub struct BusOptions {
    /// Where Firehose targets deliver; none makes every Firehose delivery fail.
    pub streams: Option<Arc<dyn RecordSink>>,
    pub chaos: Chaos,
    pub timing: Timing,
    pub log: LogMode,
    pub account_id: String,
    pub region: String,
}

impl std::fmt::Debug for BusOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BusOptions")
            .field("streams", &self.streams.as_ref().map(|_| "RecordSink"))
            .field("chaos", &self.chaos)
            .field("timing", &self.timing)
            .field("log", &self.log)
            .field("account_id", &self.account_id)
            .field("region", &self.region)
            .finish()
    }
}

impl Default for BusOptions {
    fn default() -> Self {
        BusOptions {
            streams: None,
            chaos: Chaos::off(),
            timing: Timing::aws(),
            log: LogMode::Human,
            account_id: crate::aws::ACCOUNT_ID.to_owned(),
            region: crate::aws::REGION.to_owned(),
        }
    }
}

/// Why the bus could not start.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("rule {rule}: event bus {bus} is not defined")]
    UnknownBus { rule: String, bus: String },
    #[error("rule {rule} is defined twice on event bus {bus}")]
    DuplicateRule { rule: String, bus: String },
    #[error("archive {archive} is defined twice")]
    DuplicateArchive { archive: String },
    #[error(transparent)]
    Pattern(#[from] PatternError),
}

/// What the bus has done so far. `retried` counts both layers' retries; `dead_lettered`
/// counts messages sent to a dead-letter or on-failure queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Entries PutEvents accepted.
    pub events_accepted: u64,
    /// (event, rule) deliveries started, duplicates and replays included.
    pub deliveries: u64,
    /// Invocations that succeeded.
    pub delivered: u64,
    pub retried: u64,
    pub dead_lettered: u64,
    /// Deliveries that failed for good with no queue to send them to.
    pub dropped: u64,
    /// Failures to write to a dead-letter queue (the message is lost; logged).
    pub dead_letter_errors: u64,
}

#[derive(Default)]
pub(crate) struct AtomicCounters {
    pub events_accepted: AtomicU64,
    pub deliveries: AtomicU64,
    pub delivered: AtomicU64,
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub dropped: AtomicU64,
    pub dead_letter_errors: AtomicU64,
}

impl AtomicCounters {
    fn snapshot(&self) -> Counters {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            events_accepted: g(&self.events_accepted),
            deliveries: g(&self.deliveries),
            delivered: g(&self.delivered),
            retried: g(&self.retried),
            dead_lettered: g(&self.dead_lettered),
            dropped: g(&self.dropped),
            dead_letter_errors: g(&self.dead_letter_errors),
        }
    }

    pub(crate) fn bump(a: &AtomicU64) {
        a.fetch_add(1, Ordering::Relaxed);
    }
}

/// A rule with its ARNs, as routed.
#[derive(Debug)]
pub(crate) struct Rule {
    pub spec: RuleSpec,
    pub arn: String,
    pub target_arn: String,
}

pub(crate) struct BusState {
    pub spec: BusSpec,
    pub arn: String,
    pub rules: Vec<Arc<Rule>>,
    /// The rules' patterns, indexed; match indices are positions in `rules`.
    pub matcher: RuleSet,
}

pub(crate) struct Inner {
    pub buses: Vec<BusState>,
    pub invoker: Arc<dyn Invoker>,
    pub sqs: aws_sdk_sqs::Client,
    pub options: BusOptions,
    pub counters: AtomicCounters,
    /// Every archive's events, oldest first.
    pub archive: Mutex<Vec<ArchivedEvent>>,
    pub replays: Mutex<Vec<Replay>>,
    /// When the bus started: the archives' creation time.
    pub created: DateTime<Utc>,
    pub records: Mutex<Vec<DeliveryRecord>>,
    /// Deliveries not yet finished; `idle` waits for 0.
    pub pending: watch::Sender<usize>,
    /// Becomes true on stop; delivery tasks stop waiting.
    pub shutdown: watch::Sender<bool>,
}

impl Inner {
    pub(crate) fn bus(&self, name: &str) -> Option<&BusState> {
        self.buses.iter().find(|b| b.spec.name == name)
    }
}

/// Where the bus listens: an address to bind, or a listener bound already.
pub enum Listen {
    Addr(SocketAddr),
    Bound(std::net::TcpListener),
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen::Addr(addr)
    }
}

impl From<std::net::TcpListener> for Listen {
    fn from(listener: std::net::TcpListener) -> Self {
        Listen::Bound(listener)
    }
}

/// The running bus. Dropping it stops the server and pending deliveries.
pub struct Bus {
    inner: Arc<Inner>,
    addr: SocketAddr,
    stop_server: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl Bus {
    /// Builds the routing table and serves the EventBridge JSON 1.1 API on `addr`
    /// (use `127.0.0.1:0` for a free port, then [`Bus::local_addr`]), or on a listener
    /// already bound (whose address others needed before the bus started).
    pub async fn start(
        buses: Vec<BusSpec>,
        rules: Vec<RuleSpec>,
        invoker: Arc<dyn Invoker>,
        sqs: aws_sdk_sqs::Client,
        options: BusOptions,
        addr: impl Into<Listen>,
    ) -> Result<Bus, BusError> {
        let mut states = bus_states(buses, &options);
        add_rules(&mut states, rules, &options.region, &options.account_id)?;
        check_archive_names(&states)?;
        for state in &mut states {
            state.matcher = RuleSet::new(state.rules.iter().map(|r| r.spec.pattern.clone()));
        }
        let (listener, addr) = bind(addr.into()).await?;
        let local = listener
            .local_addr()
            .map_err(|source| BusError::Bind { addr, source })?;
        let inner = Arc::new(Inner {
            buses: states,
            invoker,
            sqs,
            options,
            counters: AtomicCounters::default(),
            archive: Mutex::new(Vec::new()),
            replays: Mutex::new(Vec::new()),
            created: Utc::now(),
            records: Mutex::new(Vec::new()),
            pending: watch::Sender::new(0),
            shutdown: watch::Sender::new(false),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let app = api::router(inner.clone());
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "event bus server failed");
            }
        });
        Ok(Bus {
            inner,
            addr: local,
            stop_server: Some(tx),
            server: Some(server),
        })
    }

    /// The address the API listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the value for `--endpoint-url` and
    /// `AWS_ENDPOINT_URL_EVENTBRIDGE`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// PutEvents in process, with the API's validation. `Err` is a request-level error;
    /// otherwise one result per entry (the event id or the entry's error).
    pub fn put_events(
        &self,
        entries: Vec<PutEventsEntry>,
    ) -> Result<Vec<Result<String, EntryError>>, ApiError> {
        api::put_events(&self.inner, entries)
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.inner.counters.snapshot()
    }

    /// Every delivery attempt so far, in the order they were logged.
    pub fn delivery_log(&self) -> Vec<DeliveryRecord> {
        self.inner
            .records
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Waits until no delivery is pending (including retries waiting for their delay and
    /// deliveries held by the reorder window).
    pub async fn idle(&self) {
        let mut rx = self.inner.pending.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    /// Every archived event still within its archive's retention, oldest first.
    pub fn archive(&self) -> Vec<ArchivedEvent> {
        archive::expire(&self.inner);
        self.inner
            .archive
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// StartReplay in process: re-routes the archive's events of the time range, each
    /// with a `replay-name` field as EventBridge adds (same `id`), in event-time order.
    /// Replayed events are not archived again.
    pub fn start_replay(&self, request: ReplayRequest) -> Result<Replay, ApiError> {
        archive::start(&self.inner, request)
    }

    /// Stops the server and cancels pending deliveries.
    pub async fn stop(mut self) {
        self.shutdown_now();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn shutdown_now(&mut self) {
        self.inner.shutdown.send_replace(true);
        if let Some(tx) = self.stop_server.take() {
            let _ = tx.send(());
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

/// An [`Invoker`] made of a closure `(function, payload) -> future`: fake functions for
/// tests and demos.
pub struct FnInvoker<F>(pub F);

impl<F, Fut> Invoker for FnInvoker<F>
where
    F: Fn(String, Value) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<Value, crate::lambda::InvokeError>> + Send + 'static,
{
    fn invoke(
        &self,
        function: &str,
        payload: Value,
    ) -> crate::lambda::BoxFuture<'_, Result<Value, crate::lambda::InvokeError>> {
        Box::pin((self.0)(function.to_owned(), payload))
    }
}
