//! One instance of a function: its process, its own Runtime API listener, and the
//! supervisor task that notices when the process exits.

use super::{FunctionSpec, LogSink, MAX_RESPONSE_BYTES, lock};
use crate::lambda::InvokeError;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Notify, mpsc, oneshot, watch};

/// The exit reason of an instance killed by the chaos switch.
pub(super) const CHAOS_KILL: &str = "killed midway by chaos";
/// Output lines kept to explain a crash.
const OUTPUT_TAIL: usize = 5;

/// An invocation on its way to an instance.
pub(super) struct Job {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub timeout: Duration,
    pub chaos_kill: bool,
    pub result: oneshot::Sender<Result<Value, InvokeError>>,
    /// Told when the process took the event (`next` answered).
    pub delivered: oneshot::Sender<Instant>,
}

/// The invocation an instance is running.
struct InFlight {
    request_id: String,
    result: oneshot::Sender<Result<Value, InvokeError>>,
    chaos_kill: bool,
}

pub(super) struct Instance {
    pub id: u64,
    function: String,
    function_arn: String,
    spawned_at: Instant,
    first_poll: OnceLock<Instant>,
    pid: OnceLock<u32>,
    jobs_tx: mpsc::Sender<Job>,
    jobs_rx: tokio::sync::Mutex<mpsc::Receiver<Job>>,
    current: Mutex<Option<InFlight>>,
    /// `Some(reason)` once the process has exited.
    exit: watch::Sender<Option<String>>,
    kill_reason: Mutex<Option<String>>,
    kill_signal: Notify,
    init_error: Mutex<Option<InvokeError>>,
    output_tail: Mutex<VecDeque<String>>,
    max_rss_kb: AtomicU64,
}

impl Instance {
    /// Starts the listener and the process; the process is not ready until it polls.
    pub async fn spawn(
        spec: &FunctionSpec,
        id: u64,
        logs: Option<LogSink>,
    ) -> std::io::Result<Arc<Instance>> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr: SocketAddr = listener.local_addr()?;
        let region = region_of(spec);
        let task_root = task_root_of(spec);
        let env = process_environment(spec, addr, &region, &task_root);
        let instance = Instance::new(spec, id, &region);
        let server = serve_runtime_api(listener, &instance);

        let mut child = match Command::new(&spec.binary)
            .env_clear()
            .envs(env)
            .current_dir(&task_root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                server.abort();
                instance
                    .exit
                    .send_replace(Some(format!("could not start: {e}")));
                return Err(e);
            }
        };
        if let Some(pid) = child.id() {
            let _ = instance.pid.set(pid);
        }
        tracing::debug!(target: "eventmart_local::runtime", function = %spec.name, instance = id, runtime_api = %addr, "instance started");
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(Arc::clone(&instance), out, logs.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(Arc::clone(&instance), err, logs));
        }
        tokio::spawn(supervise(Arc::clone(&instance), child, server));
        Ok(instance)
    }

    /// A fresh instance, not yet started.
    fn new(spec: &FunctionSpec, id: u64, region: &str) -> Arc<Instance> {
        let (jobs_tx, jobs_rx) = mpsc::channel(1);
        Arc::new(Instance {
            id,
            function: spec.name.clone(),
            function_arn: format!(
                "arn:aws:lambda:{region}:{}:function:{}",
                crate::aws::ACCOUNT_ID,
                spec.name
            ),
            spawned_at: Instant::now(),
            first_poll: OnceLock::new(),
            pid: OnceLock::new(),
            jobs_tx,
            jobs_rx: tokio::sync::Mutex::new(jobs_rx),
            current: Mutex::new(None),
            exit: watch::Sender::new(None),
            kill_reason: Mutex::new(None),
            kill_signal: Notify::new(),
            init_error: Mutex::new(None),
            output_tail: Mutex::new(VecDeque::new()),
            max_rss_kb: AtomicU64::new(0),
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid.get().copied()
    }

    pub fn is_alive(&self) -> bool {
        self.exit.borrow().is_none()
    }

    /// Kills the process (once; the first reason is the one reported).
    pub fn kill(&self, reason: impl Into<String>) {
        {
            let mut r = lock(&self.kill_reason);
            if r.is_some() || !self.is_alive() {
                return;
            }
            *r = Some(reason.into());
        }
        // notify_one keeps a permit, so a kill before the supervisor waits still lands.
        self.kill_signal.notify_one();
    }

    /// Waits until the process has exited.
    pub async fn exited(&self) {
        let mut rx = self.exit.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }

    /// Queues an invocation for the instance's next `next` poll.
    pub fn offer(&self, job: Job) -> Result<(), Job> {
        self.jobs_tx.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
        })
    }

    /// Forgets the in-flight invocation (timed out), so a late answer gets a 400.
    pub fn abandon(&self, request_id: &str) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.request_id == request_id) {
            *current = None;
        }
    }

    /// The error of an invocation the instance could not finish: makes sure the
    /// process is gone, then says why it went.
    pub async fn crash_error(&self) -> InvokeError {
        self.kill("lost its invocation");
        self.exited().await;
        let reason = self.exit.borrow().clone().unwrap_or_default();
        self.failure(&reason)
    }

    fn failure(&self, reason: &str) -> InvokeError {
        lock(&self.init_error)
            .clone()
            .unwrap_or_else(|| InvokeError::Crashed(reason.to_owned()))
    }

    pub fn init_duration(&self) -> Option<Duration> {
        self.first_poll
            .get()
            .map(|t| t.saturating_duration_since(self.spawned_at))
    }

    /// Reads the process's peak RSS now, keeping the last value read.
    pub fn record_rss(&self) {
        if let Some(kb) = self.pid().and_then(read_vm_hwm_kb) {
            self.max_rss_kb.fetch_max(kb, Ordering::Relaxed);
        }
    }

    /// The peak RSS of the process so far, or the last one read if it has exited.
    pub fn max_rss_kb(&self) -> Option<u64> {
        if self.is_alive() {
            self.record_rss();
        }
        Some(self.max_rss_kb.load(Ordering::Relaxed)).filter(|kb| *kb > 0)
    }

    fn take_current(&self, request_id: &str) -> Option<InFlight> {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.request_id == request_id) {
            current.take()
        } else {
            None
        }
    }
}

/// What the parent's environment lends a function: the executable search path and
/// the AWS credentials, region and endpoints (how the same binaries reach local
/// servers). Everything else of the developer's shell stays out, as on Lambda.
fn inherit(name: &str) -> bool {
    matches!(
        name,
        "PATH"
            | "LANG"
            | "RUST_BACKTRACE"
            | "AWS_ACCESS_KEY_ID"
            | "AWS_SECRET_ACCESS_KEY"
            | "AWS_SESSION_TOKEN"
            | "AWS_REGION"
            | "AWS_DEFAULT_REGION"
    ) || name.starts_with("AWS_ENDPOINT_URL")
}

/// `VmHWM` of /proc/<pid>/status, in kB.
fn read_vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

async fn forward(instance: Arc<Instance>, stream: impl AsyncRead + Unpin, logs: Option<LogSink>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        {
            let mut tail = lock(&instance.output_tail);
            if tail.len() == OUTPUT_TAIL {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        match &logs {
            Some(sink) => sink(&instance.function, &line),
            None => {
                tracing::info!(target: "eventmart_local::function", function = %instance.function, instance = instance.id, "{line}")
            }
        }
    }
}

fn epoch_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// An X-Ray trace header, as Lambda passes it (not sampled: nothing collects traces).
fn trace_id() -> String {
    let secs = epoch_ms() / 1000;
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{secs:08x}-{};Parent={};Sampled=0",
        &id[..24],
        &id[16..32]
    )
}

async fn next(State(instance): State<Arc<Instance>>) -> Response {
    let _ = instance.first_poll.set(Instant::now());
    let job = instance.jobs_rx.lock().await.recv().await;
    let Some(job) = job else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "the instance is shutting down",
        )
            .into_response();
    };
    let deadline = epoch_ms() + job.timeout.as_millis();
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", job.request_id.clone());
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        instance.function_arn.clone(),
    );
    set("lambda-runtime-trace-id", trace_id());
    set("content-type", "application/json".to_owned());
    *lock(&instance.current) = Some(InFlight {
        request_id: job.request_id,
        result: job.result,
        chaos_kill: job.chaos_kill,
    });
    let _ = job.delivered.send(Instant::now());
    (StatusCode::OK, headers, Body::from(job.payload)).into_response()
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

fn invalid_request_id() -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"errorType": "InvalidRequestID", "errorMessage": "Invalid request ID"})),
    )
        .into_response()
}

async fn response(
    State(instance): State<Arc<Instance>>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(in_flight) = instance.take_current(&request_id) else {
        return invalid_request_id();
    };
    if in_flight.chaos_kill {
        // The handler finished its work but the result is lost with the instance:
        // the case that makes a retry repeat side effects.
        instance.kill(CHAOS_KILL);
        let _ = in_flight
            .result
            .send(Err(InvokeError::Crashed(CHAOS_KILL.to_owned())));
        return accepted();
    }
    if body.len() > MAX_RESPONSE_BYTES {
        let _ = in_flight.result.send(Err(InvokeError::Function {
            error_type: "Function.ResponseSizeTooLarge".into(),
            message: format!(
                "Response payload size ({} bytes) exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
                body.len()
            ),
        }));
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            axum::Json(
                json!({"errorType": "RequestEntityTooLarge", "errorMessage": "payload too large"}),
            ),
        )
            .into_response();
    }
    let value = if body.is_empty() {
        Value::Null
    } else {
        // Lambda passes any bytes through; a non-JSON answer is kept as text.
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let _ = in_flight.result.send(Ok(value));
    accepted()
}

/// `errorType`/`errorMessage` of an error body, with the error-type header and a
/// default for what the body does not say.
fn diagnostic(headers: &HeaderMap, body: &[u8], default_type: &str) -> InvokeError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let header_type = headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok());
    let error_type = parsed
        .get("errorType")
        .and_then(Value::as_str)
        .or(header_type)
        .unwrap_or(default_type)
        .to_owned();
    let message = match parsed.get("errorMessage").and_then(Value::as_str) {
        Some(m) => m.to_owned(),
        None => String::from_utf8_lossy(body).into_owned(),
    };
    InvokeError::Function {
        error_type,
        message,
    }
}

async fn error(
    State(instance): State<Arc<Instance>>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(in_flight) = instance.take_current(&request_id) else {
        return invalid_request_id();
    };
    let err = diagnostic(&headers, &body, "Unhandled");
    if in_flight.chaos_kill {
        instance.kill(CHAOS_KILL);
        let _ = in_flight
            .result
            .send(Err(InvokeError::Crashed(CHAOS_KILL.to_owned())));
        return accepted();
    }
    let _ = in_flight.result.send(Err(err));
    accepted()
}

async fn init_error(
    State(instance): State<Arc<Instance>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let err = diagnostic(&headers, &body, "Runtime.InitError");
    *lock(&instance.init_error) = Some(err.clone());
    // Lambda discards an environment whose init failed.
    instance.kill(format!("init error: {err}"));
    accepted()
}

/// The function's region: its own `AWS_REGION`, else this process's, else the default.
fn region_of(spec: &FunctionSpec) -> String {
    spec.env
        .get("AWS_REGION")
        .cloned()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .unwrap_or_else(|| crate::aws::REGION.to_owned())
}

/// The binary's directory, Lambda's `LAMBDA_TASK_ROOT`.
fn task_root_of(spec: &FunctionSpec) -> String {
    spec.binary
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".".to_owned())
}

/// The process's environment: the inherited variables, Lambda's reserved ones, the
/// function's own, then the runtime API's address.
fn process_environment(
    spec: &FunctionSpec,
    addr: SocketAddr,
    region: &str,
    task_root: &str,
) -> Vec<(String, String)> {
    let inherited = std::env::vars().filter(|(k, _)| inherit(k));
    let mut env: Vec<(String, String)> = inherited.collect();
    let stream_id = uuid::Uuid::new_v4().simple().to_string();
    let day = chrono::Utc::now().format("%Y/%m/%d");
    for (k, v) in [
        ("AWS_LAMBDA_FUNCTION_NAME", spec.name.clone()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            spec.memory_mb.to_string(),
        ),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", spec.name),
        ),
        (
            "AWS_LAMBDA_LOG_STREAM_NAME",
            format!("{day}/[$LATEST]{stream_id}"),
        ),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
        ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".to_owned()),
        ("LAMBDA_TASK_ROOT", task_root.to_owned()),
        ("LAMBDA_RUNTIME_DIR", task_root.to_owned()),
        ("AWS_REGION", region.to_owned()),
        ("AWS_DEFAULT_REGION", region.to_owned()),
        ("_HANDLER", "bootstrap".to_owned()),
        ("TZ", ":UTC".to_owned()),
    ] {
        env.push((k.to_owned(), v));
    }
    env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    // Last, so the spec cannot override them: the runtime address is how this
    // instance is told apart, and the instance metadata service is off-machine.
    env.push(("AWS_LAMBDA_RUNTIME_API".to_owned(), addr.to_string()));
    env.push(("AWS_EC2_METADATA_DISABLED".to_owned(), "true".to_owned()));
    env
}

/// Serves the Lambda runtime API for this instance on `listener`.
fn serve_runtime_api(
    listener: TcpListener,
    instance: &Arc<Instance>,
) -> tokio::task::JoinHandle<()> {
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/response",
            post(response),
        )
        .route(
            "/2018-06-01/runtime/invocation/{request_id}/error",
            post(error),
        )
        .route("/2018-06-01/runtime/init/error", post(init_error))
        // Oversized responses are a function error, not a transport failure.
        .layer(DefaultBodyLimit::disable())
        .with_state(Arc::clone(instance));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// Waits for the process to exit (or kills it when told to), then stops the runtime API,
/// records why it ended and fails the invocation in flight with that reason.
async fn supervise(
    supervised: Arc<Instance>,
    mut child: tokio::process::Child,
    server: tokio::task::JoinHandle<()>,
) {
    let status = tokio::select! {
        status = child.wait() => match status {
            Ok(s) => s.to_string(),
            Err(e) => format!("wait failed: {e}"),
        },
        _ = supervised.kill_signal.notified() => {
            supervised.record_rss();
            let _ = child.start_kill();
            let _ = child.wait().await;
            String::new()
        }
    };
    server.abort();
    let reason = lock(&supervised.kill_reason).clone().unwrap_or_else(|| {
        let tail: Vec<String> = lock(&supervised.output_tail).iter().cloned().collect();
        if tail.is_empty() {
            status
        } else {
            format!("{status}; last output: {}", tail.join(" | "))
        }
    });
    tracing::debug!(target: "eventmart_local::runtime", function = %supervised.function, instance = supervised.id, %reason, "instance exited");
    supervised.exit.send_replace(Some(reason.clone()));
    let in_flight = lock(&supervised.current).take();
    if let Some(in_flight) = in_flight {
        let _ = in_flight.result.send(Err(supervised.failure(&reason)));
    }
}
