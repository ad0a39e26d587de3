//! The local Lambda service: the real function binaries, unchanged, behind our own
//! implementation of the Lambda Runtime API. The stack's other parts (the HTTP API, the
//! bus, the stream pollers) call functions through an [`Invoker`] ([`invoke`]).
//!
//! Each instance of a function is one process with its own Runtime API listener on a
//! loopback port (`AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT`), so requests of different
//! instances never need telling apart. An invocation takes an idle instance (warm start)
//! or spawns one (cold start) while fewer than
//! [`RuntimeOptions::max_instances_per_function`] are busy, and waits for a free one
//! otherwise. As on Lambda:
//! - an instance runs one invocation at a time and is reused after a result or a
//!   function error;
//! - past the function's timeout the instance is killed and the invocation fails with
//!   [`InvokeError::Timeout`]; a process that exits mid-invocation fails it with
//!   [`InvokeError::Crashed`]; the next invocation starts a new instance;
//! - the init phase (spawn until the first `next` poll) may take up to [`INIT_TIMEOUT`].
//!
//! Every invocation produces an [`InvocationReport`] (Lambda's `REPORT` line: init
//! duration on cold starts, duration, max RSS), passed to [`RuntimeOptions::reports`],
//! kept in [`Runtime::reports`] and broadcast to [`Runtime::subscribe`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use eventmart_local::apigateway::{Gateway, RouteSpec};
//! use eventmart_local::lambda::*;
//! use std::sync::Arc;
//! let spec = FunctionSpec::new("ReportFunction", "target/debug/report");
//! let runtime = Runtime::start(vec![spec], RuntimeOptions::default()).await?;
//! let gateway = Gateway::start(
//!     vec![RouteSpec::new("GET", "/report", "ReportFunction")],
//!     Arc::new(runtime.handle()),
//! ).await?;
//! println!("HTTP API on {}", gateway.url());
//! let _ = runtime.handle().invoke("ReportFunction", serde_json::json!({})).await;
//! gateway.shutdown().await;
//! runtime.shutdown().await;
//! # Ok(()) }
//! ```

mod instance;
pub mod invoke;
pub mod sam;
#[cfg(test)]
mod tests;

pub use invoke::{BoxFuture, InvokeError, Invoker};

use instance::{Instance, Job};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, broadcast, oneshot};

/// Longest init phase (spawn until the first `next` poll), Lambda's limit.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest synchronous response payload Lambda accepts: 6 MiB and 100 bytes, the size
/// Lambda names in its `Function.ResponseSizeTooLarge` error and AWS's Runtime Interface
/// Emulator enforces (tests/rie_conformance.rs).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024 + 100;
/// Reports kept for [`Runtime::reports`]; older ones are dropped.
const REPORT_HISTORY: usize = 10_000;
/// A chaos kill lands within this long after delivery, or at the response if the
/// handler is faster: either way the handler was running when its instance died.
const CHAOS_KILL_WINDOW: Duration = Duration::from_millis(100);

/// One function of the template.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionSpec {
    /// The template's logical id; invocations name the function by it.
    pub name: String,
    /// The executable (the function's `bootstrap`).
    pub binary: PathBuf,
    /// The function's environment variables (Globals merged with its own).
    pub env: BTreeMap<String, String>,
    /// The function's timeout; the instance is killed past it.
    pub timeout: Duration,
    /// `MemorySize`, reported to the function (not enforced).
    pub memory_mb: u32,
}

impl FunctionSpec {
    /// A spec with Lambda's defaults: 3 s timeout, 128 MB, no environment.
    pub fn new(name: impl Into<String>, binary: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            binary: binary.into(),
            env: BTreeMap::new(),
            timeout: Duration::from_secs(3),
            memory_mb: 128,
        }
    }
}

/// Receives every [`InvocationReport`] as soon as the invocation ends.
pub type ReportSink = Arc<dyn Fn(&InvocationReport) + Send + Sync>;
/// Receives every line a function's process writes to stdout or stderr:
/// `(function logical id, line)`.
pub type LogSink = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// How the runtime runs functions.
#[derive(Clone)]
pub struct RuntimeOptions {
    /// Most instances of one function at once (Lambda's reserved concurrency); at least 1.
    pub max_instances_per_function: usize,
    /// Chaos: fraction (0..=1) of invocations whose instance is killed midway.
    pub kill_fraction: f64,
    /// Called with every invocation report.
    pub reports: Option<ReportSink>,
    /// Where the functions' output goes; `None` logs each line with `tracing` at info
    /// level (target `eventmart_local::function`).
    pub function_logs: Option<LogSink>,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            max_instances_per_function: 4,
            kill_fraction: 0.0,
            reports: None,
            function_logs: None,
        }
    }
}

impl fmt::Debug for RuntimeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeOptions")
            .field(
                "max_instances_per_function",
                &self.max_instances_per_function,
            )
            .field("kill_fraction", &self.kill_fraction)
            .field("reports", &self.reports.is_some())
            .field("function_logs", &self.function_logs.is_some())
            .finish()
    }
}

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Success,
    Failed(InvokeError),
}

impl Outcome {
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Success)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Success => f.write_str("success"),
            Outcome::Failed(e) => write!(f, "{}: {e}", e.error_type()),
        }
    }
}

/// What Lambda's `REPORT` line says about one invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct InvocationReport {
    /// The function's logical id.
    pub function: String,
    pub request_id: String,
    /// The instance that ran it (unique within the runtime; 0 if none could start).
    pub instance: u64,
    /// True when the instance was started for this invocation.
    pub cold: bool,
    /// Cold starts only: spawn until the process first asked for an invocation.
    pub init_duration: Option<Duration>,
    /// From handing the event to the instance until its result (or failure).
    pub duration: Duration,
    /// Peak resident memory of the instance so far (`VmHWM`), when it could be read.
    pub max_rss_kb: Option<u64>,
    /// The function's configured memory.
    pub memory_mb: u32,
    pub outcome: Outcome,
}

impl fmt::Display for InvocationReport {
    /// Lambda's wording, with the function and outcome first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REPORT {} RequestId: {} Duration: {:.2} ms Memory Size: {} MB",
            self.function,
            self.request_id,
            self.duration.as_secs_f64() * 1000.0,
            self.memory_mb
        )?;
        if let Some(kb) = self.max_rss_kb {
            write!(f, " Max Memory Used: {} MB", kb.div_ceil(1024))?;
        }
        if let Some(init) = self.init_duration {
            write!(f, " Init Duration: {:.2} ms", init.as_secs_f64() * 1000.0)?;
        }
        write!(f, " Outcome: {}", self.outcome)
    }
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("function {0} is defined twice")]
    DuplicateFunction(String),
    #[error("function {function}: binary {} is not an executable file (build it first)", path.display())]
    BinaryNotFound { function: String, path: PathBuf },
    #[error("invalid runtime option: {0}")]
    InvalidOption(String),
}

/// The running Lambda service. Dropping it kills every instance; [`Runtime::shutdown`]
/// also waits for them to exit.
pub struct Runtime {
    inner: Arc<Inner>,
}

/// A cheap, clonable handle that invokes functions of a [`Runtime`]; it does not keep
/// instances alive: once the runtime is shut down or dropped, invocations fail.
#[derive(Clone)]
pub struct RuntimeHandle {
    inner: Arc<Inner>,
}

struct Inner {
    functions: HashMap<String, Arc<Function>>,
    options: RuntimeOptions,
    reports: broadcast::Sender<InvocationReport>,
    history: Mutex<VecDeque<InvocationReport>>,
    closed: AtomicBool,
    next_instance: AtomicU64,
}

struct Function {
    spec: FunctionSpec,
    /// One permit per instance that may run; held for the whole invocation.
    permits: Arc<Semaphore>,
    pool: Mutex<Pool>,
}

#[derive(Default)]
struct Pool {
    idle: Vec<Arc<Instance>>,
    all: Vec<Arc<Instance>>,
}

impl Runtime {
    /// Checks the specs and options; instances start on demand.
    pub async fn start(
        functions: Vec<FunctionSpec>,
        options: RuntimeOptions,
    ) -> Result<Runtime, RuntimeError> {
        if options.max_instances_per_function == 0 {
            return Err(RuntimeError::InvalidOption(
                "max_instances_per_function must be at least 1".into(),
            ));
        }
        if !(0.0..=1.0).contains(&options.kill_fraction) {
            return Err(RuntimeError::InvalidOption(format!(
                "kill_fraction must be within 0..=1, not {}",
                options.kill_fraction
            )));
        }
        let mut map = HashMap::new();
        for spec in functions {
            if !is_executable(&spec.binary) {
                return Err(RuntimeError::BinaryNotFound {
                    function: spec.name,
                    path: spec.binary,
                });
            }
            let name = spec.name.clone();
            let function = Function {
                permits: Arc::new(Semaphore::new(options.max_instances_per_function)),
                pool: Mutex::new(Pool::default()),
                spec,
            };
            if map.insert(name.clone(), Arc::new(function)).is_some() {
                return Err(RuntimeError::DuplicateFunction(name));
            }
        }
        let (reports, _) = broadcast::channel(1024);
        Ok(Runtime {
            inner: Arc::new(Inner {
                functions: map,
                options,
                reports,
                history: Mutex::new(VecDeque::new()),
                closed: AtomicBool::new(false),
                next_instance: AtomicU64::new(1),
            }),
        })
    }

    /// A handle to give to the gateway, the bus and the stream pollers.
    pub fn handle(&self) -> RuntimeHandle {
        RuntimeHandle {
            inner: Arc::clone(&self.inner),
        }
    }

    /// Invokes `function` (logical id) with `payload` and waits for its result.
    pub async fn invoke(&self, function: &str, payload: Value) -> Result<Value, InvokeError> {
        Arc::clone(&self.inner).invoke(function, payload).await
    }

    /// The functions' logical ids, sorted.
    pub fn functions(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inner.functions.keys().cloned().collect();
        names.sort();
        names
    }

    /// Live instances of `function` (busy or idle).
    pub fn instances(&self, function: &str) -> usize {
        self.inner.functions.get(function).map_or(0, |f| {
            let mut pool = lock(&f.pool);
            pool.all.retain(|i| i.is_alive());
            pool.all.len()
        })
    }

    /// The process ids of `function`'s live instances.
    pub fn instance_pids(&self, function: &str) -> Vec<u32> {
        self.inner
            .functions
            .get(function)
            .map_or_else(Vec::new, |f| {
                lock(&f.pool)
                    .all
                    .iter()
                    .filter(|i| i.is_alive())
                    .filter_map(|i| i.pid())
                    .collect()
            })
    }

    /// The reports so far (the latest 10 000), oldest first.
    pub fn reports(&self) -> Vec<InvocationReport> {
        lock(&self.inner.history).iter().cloned().collect()
    }

    /// Every report from now on (a slow receiver loses the oldest ones: `Lagged`).
    pub fn subscribe(&self) -> broadcast::Receiver<InvocationReport> {
        self.inner.reports.subscribe()
    }

    /// Kills every instance and waits until each has exited; later invocations fail.
    pub async fn shutdown(&self) {
        let instances = self.inner.close();
        for instance in instances {
            instance.exited().await;
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Processes also die with their supervisor tasks (kill_on_drop) if the tokio
        // runtime goes away first.
        self.inner.close();
    }
}

impl Invoker for Runtime {
    fn invoke(&self, function: &str, payload: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        let inner = Arc::clone(&self.inner);
        let function = function.to_owned();
        Box::pin(async move { inner.invoke(&function, payload).await })
    }
}

impl Invoker for RuntimeHandle {
    fn invoke(&self, function: &str, payload: Value) -> BoxFuture<'_, Result<Value, InvokeError>> {
        let inner = Arc::clone(&self.inner);
        let function = function.to_owned();
        Box::pin(async move { inner.invoke(&function, payload).await })
    }
}

impl Inner {
    async fn invoke(self: Arc<Self>, function: &str, payload: Value) -> Result<Value, InvokeError> {
        let Some(f) = self.functions.get(function).cloned() else {
            return Err(InvokeError::NoSuchFunction(function.to_owned()));
        };
        // Its own task, so that a caller that stops waiting (an HTTP client hanging
        // up) cannot strand a busy instance outside the pool.
        let task = tokio::spawn(Arc::clone(&self).run(f, payload));
        task.await
            .unwrap_or_else(|e| Err(InvokeError::Crashed(format!("invocation task failed: {e}"))))
    }

    fn close(&self) -> Vec<Arc<Instance>> {
        self.closed.store(true, Ordering::SeqCst);
        let mut all = vec![];
        for f in self.functions.values() {
            f.permits.close();
            let mut pool = lock(&f.pool);
            pool.idle.clear();
            all.append(&mut pool.all);
        }
        for instance in &all {
            instance.kill("the runtime shut down");
        }
        all
    }

    async fn run(self: Arc<Self>, f: Arc<Function>, payload: Value) -> Result<Value, InvokeError> {
        let shut_down = || InvokeError::Crashed("the runtime is shut down".into());
        let Ok(permit) = Arc::clone(&f.permits).acquire_owned().await else {
            return Err(shut_down());
        };
        if self.closed.load(Ordering::SeqCst) {
            return Err(shut_down());
        }
        let request_id = uuid::Uuid::new_v4().to_string();
        let spec = &f.spec;

        let warm = {
            let mut pool = lock(&f.pool);
            pool.idle.retain(|i| i.is_alive());
            pool.idle.pop()
        };
        let (instance, cold) = match warm {
            Some(i) => (i, false),
            None => {
                let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
                match Instance::spawn(spec, id, self.options.function_logs.clone()).await {
                    Ok(i) => {
                        let mut pool = lock(&f.pool);
                        pool.all.retain(|i| i.is_alive());
                        pool.all.push(Arc::clone(&i));
                        (i, true)
                    }
                    Err(e) => {
                        let err = InvokeError::Crashed(format!(
                            "could not start {}: {e}",
                            spec.binary.display()
                        ));
                        self.report(InvocationReport {
                            function: spec.name.clone(),
                            request_id,
                            instance: 0,
                            cold: true,
                            init_duration: None,
                            duration: Duration::ZERO,
                            max_rss_kb: None,
                            memory_mb: spec.memory_mb,
                            outcome: Outcome::Failed(err.clone()),
                        });
                        return Err(err);
                    }
                }
            }
        };

        let chaos =
            self.options.kill_fraction > 0.0 && fastrand::f64() < self.options.kill_fraction;
        let (result, duration) = self
            .drive(&instance, spec, &request_id, payload, cold, chaos)
            .await;
        let max_rss_kb = instance.max_rss_kb();
        let reusable = matches!(result, Ok(_) | Err(InvokeError::Function { .. }));
        if reusable && instance.is_alive() && !self.closed.load(Ordering::SeqCst) {
            // Back in the pool before the permit goes, so the next waiter finds it warm.
            lock(&f.pool).idle.push(Arc::clone(&instance));
        } else {
            instance.kill("not reusable after a failed invocation");
            instance.exited().await;
        }
        drop(permit);

        self.report(InvocationReport {
            function: spec.name.clone(),
            request_id,
            instance: instance.id,
            cold,
            init_duration: if cold { instance.init_duration() } else { None },
            duration,
            max_rss_kb,
            memory_mb: spec.memory_mb,
            outcome: match &result {
                Ok(_) => Outcome::Success,
                Err(e) => Outcome::Failed(e.clone()),
            },
        });
        result
    }

    /// Hands the event to the instance and waits for its result, enforcing the init
    /// limit and the timeout. Returns the result and the invocation's duration.
    async fn drive(
        &self,
        instance: &Arc<Instance>,
        spec: &FunctionSpec,
        request_id: &str,
        payload: Value,
        cold: bool,
        chaos: bool,
    ) -> (Result<Value, InvokeError>, Duration) {
        let (result_tx, mut result_rx) = oneshot::channel();
        let (delivered_tx, delivered_rx) = oneshot::channel();
        let job = Job {
            request_id: request_id.to_owned(),
            payload: serde_json::to_vec(&payload).unwrap_or_default(),
            timeout: spec.timeout,
            chaos_kill: chaos,
            result: result_tx,
            delivered: delivered_tx,
        };
        let queued_at = Instant::now();
        if instance.offer(job).is_err() {
            return (Err(instance.crash_error().await), Duration::ZERO);
        }

        // Phase 1: until the instance takes the event (a warm one is already waiting).
        let limit = if cold { INIT_TIMEOUT } else { spec.timeout };
        let delivered_at = tokio::select! {
            biased;
            at = delivered_rx => match at {
                Ok(at) => at,
                Err(_) => return (Err(instance.crash_error().await), queued_at.elapsed()),
            },
            _ = instance.exited() => return (Err(instance.crash_error().await), queued_at.elapsed()),
            _ = tokio::time::sleep(limit) => {
                instance.kill(format!("did not ask for an invocation within {limit:?}"));
                instance.exited().await;
                return (Err(InvokeError::Timeout(limit)), queued_at.elapsed());
            }
        };

        if chaos {
            let victim = Arc::clone(instance);
            let window = CHAOS_KILL_WINDOW.min(spec.timeout / 2);
            let delay = window.mul_f64(fastrand::f64());
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                victim.kill(instance::CHAOS_KILL);
            });
        }

        // Phase 2: the handler runs, bounded by the timeout.
        let deadline = tokio::time::Instant::from_std(delivered_at + spec.timeout);
        let result = tokio::select! {
            biased;
            r = &mut result_rx => match r {
                Ok(r) => r,
                Err(_) => Err(instance.crash_error().await),
            },
            _ = instance.exited() => match result_rx.try_recv() {
                Ok(r) => r,
                Err(_) => Err(instance.crash_error().await),
            },
            _ = tokio::time::sleep_until(deadline) => {
                instance.abandon(request_id);
                instance.kill(format!("Task timed out after {:?}", spec.timeout));
                // Gone before the caller hears of it, as on Lambda.
                instance.exited().await;
                Err(InvokeError::Timeout(spec.timeout))
            }
        };
        (result, delivered_at.elapsed())
    }

    fn report(&self, report: InvocationReport) {
        tracing::debug!(target: "eventmart_local::runtime", "{report}");
        if let Some(sink) = &self.options.reports {
            sink(&report);
        }
        {
            let mut history = lock(&self.history);
            if history.len() == REPORT_HISTORY {
                history.pop_front();
            }
            history.push_back(report.clone());
        }
        // No subscriber is fine: reports are also in the history.
        let _ = self.reports.send(report);
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain data; the
/// data is still usable, and the runtime must keep serving.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn is_executable(path: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
