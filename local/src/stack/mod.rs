//! The whole stack, wired from the template: moto with the template's tables, queues
//! and SES identities (`provision.rs`); the functions behind the Runtime API; the HTTP API;
//! the bus with its rules; the stream pollers. What each part is started with is decided
//! from the template alone ([`specs`]); [`LocalStack::start`] starts the processes.

mod binaries;
mod provision;
pub mod specs;

pub use provision::{s3_client, sdk_config};

use crate::apigateway::Gateway;
use crate::chaos::Chaos;
use crate::cognito::{self, Cognito, CognitoError};
use crate::event_source_mapping::{StreamOptions, StreamPoller};
use crate::eventbridge::{Bus, BusOptions, Timing};
use crate::firehose::{DeliveryStreams, S3Store};
use crate::lambda::sam::{self, SamError, SamLambda};
use crate::lambda::{Invoker, Runtime, RuntimeOptions};
use crate::log::LogMode;
use crate::servers::moto::{Moto, MotoError, accepts_within};
use crate::servers::proxy::AwsProxy;
use crate::template::{LocalNaming, Stack, TemplateError};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How to run the stack.
#[derive(Clone)]
pub struct StackOptions {
    /// The repository root (for `.venv`, `scripts/moto_server.py` and `target/`).
    pub root: PathBuf,
    pub template: PathBuf,
    /// Run release builds of the functions (what Lambda runs) instead of debug builds.
    pub release: bool,
    /// Build the functions with cargo before starting.
    pub build: bool,
    pub chaos: Chaos,
    pub log: LogMode,
    /// Delays of EventBridge's backoff and Lambda's async retries (AWS's, or scaled).
    pub timing: Timing,
    pub http_addr: SocketAddr,
    pub bus_addr: SocketAddr,
    pub max_instances: usize,
    /// Template parameter values.
    pub parameters: BTreeMap<String, String>,
    /// What `AWS::StackName` resolves to.
    pub stack_name: String,
    /// What runs the functions.
    pub lambda: LambdaBackend,
    /// An AWS-compatible endpoint (`http://host:port`) to create the template's tables,
    /// queues, identities and user pools in and to point every function at, instead of
    /// starting moto; the stack leaves that server running when it stops.
    pub aws: Option<String>,
    /// Where the delivery streams keep a copy of their objects; `None` gives each stack
    /// its own directory under `target/local/`. Emptied when the stack starts.
    pub lake_dir: Option<PathBuf>,
}

/// What runs the functions: the native Runtime API (the binaries of `target/`, as
/// processes) or SAM CLI's local Lambda (the artifacts of `sam build`, in containers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LambdaBackend {
    Native,
    Sam,
}

impl LambdaBackend {
    pub fn parse(s: &str) -> Result<LambdaBackend, String> {
        match s {
            "native" => Ok(LambdaBackend::Native),
            "sam" => Ok(LambdaBackend::Sam),
            other => Err(format!("--lambda takes native or sam, not {other:?}")),
        }
    }
}

impl StackOptions {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Self {
            template: root.join("template.yaml"),
            root,
            release: false,
            build: true,
            chaos: Chaos::off(),
            log: LogMode::Human,
            timing: Timing::aws().scaled(0.01),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            bus_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            max_instances: 4,
            parameters: BTreeMap::new(),
            stack_name: "local".into(),
            lambda: LambdaBackend::Native,
            aws: None,
            lake_dir: None,
        }
    }
}

/// Checks an `--aws` endpoint: `http://host:port` with nothing after it (the stack's
/// clients speak plain HTTP to local servers), returned without a trailing slash.
pub fn parse_aws_endpoint(s: &str) -> Result<String, String> {
    let url = s.trim_end_matches('/');
    let authority = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("--aws takes http://host:port, got {s:?}"))?;
    let (host, port) = authority
        .rsplit_once(':')
        .ok_or_else(|| format!("--aws needs a port: http://host:port, got {s:?}"))?;
    if host.is_empty() || host.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "--aws takes http://host:port with no path, got {s:?}"
        ));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(url.to_owned()),
        _ => Err(format!("--aws: {port:?} is not a port (1-65535), in {s:?}")),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Moto(#[from] MotoError),
    #[error("building the functions failed: {0}")]
    Build(String),
    #[error("creating the user pools in moto failed: {0}")]
    Cognito(#[from] CognitoError),
    #[error("creating {resource} in moto failed: {message}")]
    Provision { resource: String, message: String },
    #[error("starting {part}: {message}")]
    Start { part: &'static str, message: String },
    #[error(transparent)]
    Sam(#[from] SamError),
    #[error("{0}")]
    Unsupported(String),
    #[error("nothing answers at --aws {0}: start that server first")]
    AwsUnreachable(String),
}

/// Where each part listens.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub http_api: String,
    pub eventbridge: String,
    pub moto: String,
}

/// Where a front end signs in: Cognito's endpoint, the pool and the app client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SignInTarget {
    pub cognito: String,
    pub user_pool_id: String,
    pub client_id: String,
}

impl SignInTarget {
    /// Makes sure the user exists (signed up, email verified, in `groups`) and signs in.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &str,
        groups: &[&str],
    ) -> Result<crate::cognito::Tokens, CognitoError> {
        let cognito = Cognito::new(&self.cognito);
        cognito
            .ensure_user(&self.user_pool_id, &self.client_id, email, password, groups)
            .await?;
        cognito.sign_in(&self.client_id, email, password).await
    }
}

/// A running stack. [`LocalStack::shutdown`] stops it; dropping it kills every process.
pub struct LocalStack {
    pub model: Stack,
    /// How the stack's parts invoke its functions, whichever backend runs them.
    pub lambda: Arc<dyn Invoker>,
    backend: Backend,
    pub bus: Bus,
    pub streams: StreamPoller,
    gateway: Option<Gateway>,
    /// The delivery streams and where they keep a copy of what they write.
    pub lake: Lake,
    moto: AwsServer,
    /// Every function's (and the stream pollers') way to moto: counts requests, can cut a
    /// service.
    pub aws: AwsProxy,
    pub sdk: aws_config::SdkConfig,
    pub chaos: Chaos,
}

/// The AWS servers the stack runs against: a moto it started, or one it was pointed at.
enum AwsServer {
    Owned(Moto),
    External(String),
}

impl AwsServer {
    async fn start(options: &StackOptions, log: &std::path::Path) -> Result<AwsServer, StackError> {
        let Some(url) = &options.aws else {
            return Ok(AwsServer::Owned(Moto::start(&options.root, log).await?));
        };
        let authority = url.strip_prefix("http://").unwrap_or(url);
        let reachable = tokio::net::lookup_host(authority)
            .await
            .map(|mut addrs| addrs.next())
            .ok()
            .flatten();
        match reachable {
            Some(addr) if accepts_within(addr, Duration::from_secs(5)).await => {
                Ok(AwsServer::External(url.clone()))
            }
            _ => Err(StackError::AwsUnreachable(url.clone())),
        }
    }

    fn endpoint(&self) -> String {
        match self {
            AwsServer::Owned(moto) => moto.endpoint(),
            AwsServer::External(url) => url.clone(),
        }
    }

    /// Only a server the stack started has a process to measure.
    fn pid(&self) -> Option<u32> {
        match self {
            AwsServer::Owned(moto) => moto.pid(),
            AwsServer::External(_) => None,
        }
    }

    /// Stops a moto the stack started; leaves an external server running.
    async fn stop(&mut self) {
        if let AwsServer::Owned(moto) = self {
            moto.stop().await;
        }
    }
}

enum Backend {
    Native(Arc<Runtime>),
    Sam(Arc<SamLambda>, sam::SamFiles),
}

/// The stream pollers' name in [`LocalStack::aws`]'s counts.
pub const STREAM_POLLERS: &str = "stream-pollers";

impl LocalStack {
    pub async fn start(options: StackOptions) -> Result<LocalStack, StackError> {
        if options.lambda == LambdaBackend::Sam && options.chaos.kill_fraction > 0.0 {
            return Err(StackError::Unsupported(
                "--kill needs the native runtime (--lambda native): SAM's local Lambda \
                 cannot kill an instance midway"
                    .into(),
            ));
        }
        // Where the servers the functions call listen: loopback for processes; Docker's
        // bridge for SAM's containers, which cannot reach this machine's loopback.
        let function_host = match options.lambda {
            LambdaBackend::Native => IpAddr::V4(Ipv4Addr::LOCALHOST),
            LambdaBackend::Sam => sam::bridge_gateway()?,
        };
        let log_dir = options.root.join("target/local");
        let moto = AwsServer::start(&options, &log_dir.join("moto.log")).await?;
        let naming = LocalNaming::new(moto.endpoint()).stack(&options.stack_name);
        // Cognito assigns pool and client ids when it creates them: the template's
        // references to them resolve once they exist, as in CloudFormation.
        let draft = Stack::load(&options.template, &naming, &options.parameters)?;
        let assigned = Cognito::new(moto.endpoint()).create(&draft).await?;
        let naming = naming.with_assigned(assigned);
        let model = Stack::load(&options.template, &naming, &options.parameters)?;
        let binaries = match options.lambda {
            LambdaBackend::Native => binaries::build(&options, &model)?,
            LambdaBackend::Sam => binaries::built_by_sam(&options, &model)?,
        };
        let sdk = sdk_config(&moto.endpoint()).await;
        provision::provision(&sdk, &model).await?;

        // The bus's address must be known before the functions start: outbox-relay reads it
        // from its environment. The listener stays bound until the bus takes it, so that
        // nothing else (a parallel test's stack) can take the port in between.
        let mut bus_addr = options.bus_addr;
        if bus_addr.ip().is_loopback() {
            bus_addr.set_ip(function_host);
        }
        let bus_listener = std::net::TcpListener::bind(bus_addr).map_err(failed("bus"))?;
        let bus_addr = bus_listener.local_addr().map_err(failed("bus"))?;
        let bus_url = format!("http://{bus_addr}");
        let callers: Vec<String> = model
            .functions
            .iter()
            .map(|f| f.logical_id.clone())
            .chain([STREAM_POLLERS.to_owned()])
            .collect();
        let aws = AwsProxy::start(&moto.endpoint(), &callers, function_host)
            .await
            .map_err(failed("AWS proxy"))?;
        let aws_url = |caller: &str| aws.url(caller).unwrap_or_default().to_owned();

        let functions = specs::functions(&model, &binaries, &bus_url, &aws_url, &moto.endpoint());
        let (backend, invoker): (Backend, Arc<dyn Invoker>) = match options.lambda {
            LambdaBackend::Native => {
                let runtime = Arc::new(
                    Runtime::start(
                        functions,
                        RuntimeOptions {
                            max_instances_per_function: options.max_instances,
                            kill_fraction: options.chaos.kill_fraction,
                            reports: report_sink(options.log),
                            function_logs: function_log_sink(options.log),
                        },
                    )
                    .await
                    .map_err(failed("runtime"))?,
                );
                (Backend::Native(runtime.clone()), runtime)
            }
            LambdaBackend::Sam => {
                let files = sam::write_files(
                    &sam_build_dir(&options),
                    &functions,
                    &log_dir.join("sam-env-vars.json"),
                )?;
                let sam = Arc::new(
                    SamLambda::start(&options.root, &files, &functions, &log_dir.join("sam.log"))
                        .await?,
                );
                (Backend::Sam(sam.clone(), files), sam)
            }
        };
        let lake = Lake::start(&options, &model, &sdk)?;
        let bus = start_bus(
            &options,
            &model,
            &sdk,
            invoker.clone(),
            lake.streams.clone(),
            bus_listener,
        )
        .await?;
        let pollers_sdk = sdk_config(&aws_url(STREAM_POLLERS)).await;
        let streams = start_stream_pollers(&options, &model, &pollers_sdk, invoker.clone()).await?;
        let gateway = Gateway::bind(
            options.http_addr,
            specs::routes(&model, &|issuer| {
                cognito::jwks_url(&moto.endpoint(), issuer)
            }),
            invoker.clone(),
        )
        .await
        .map_err(failed("HTTP API"))?;

        Ok(LocalStack {
            model,
            lambda: invoker,
            backend,
            bus,
            streams,
            gateway: Some(gateway),
            lake,
            moto,
            aws,
            sdk,
            chaos: options.chaos,
        })
    }

    /// The template's first user pool and its first app client, as created in moto: what
    /// front ends sign in to.
    pub fn sign_in_target(&self) -> Option<SignInTarget> {
        let client = self.model.user_pool_clients.first()?;
        let pool = self
            .model
            .user_pools
            .iter()
            .find(|p| p.logical_id == client.user_pool)?;
        Some(SignInTarget {
            cognito: self.moto.endpoint(),
            user_pool_id: pool.id.clone(),
            client_id: client.id.clone(),
        })
    }

    pub fn endpoints(&self) -> Endpoints {
        let http = self.gateway.as_ref().map(Gateway::url).unwrap_or_default();
        Endpoints {
            http_api: http,
            eventbridge: self.bus.endpoint_url(),
            moto: self.moto.endpoint(),
        }
    }

    /// The physical name of the template's table `logical_id` (empty if there is none).
    pub fn table_name(&self, logical_id: &str) -> String {
        self.model
            .tables
            .iter()
            .find(|t| t.logical_id == logical_id)
            .map(|t| t.name.clone())
            .unwrap_or_default()
    }

    /// Under `--lambda sam`: the local template and env-vars file SAM runs the functions
    /// with, for `sam local invoke` beside the stack.
    pub fn sam_files(&self) -> Option<&sam::SamFiles> {
        match &self.backend {
            Backend::Sam(_, files) => Some(files),
            Backend::Native(_) => None,
        }
    }

    pub fn moto_pid(&self) -> Option<u32> {
        self.moto.pid()
    }

    /// Waits until nothing is in flight: no delivery pending on the bus and every stream
    /// caught up, twice in a row (a stream record can put an event on the bus, whose
    /// delivery can write a stream record).
    pub async fn settle(&self) {
        let mut quiet_rounds = 0;
        let mut last = None;
        while quiet_rounds < 2 {
            self.streams.idle().await;
            self.bus.idle().await;
            let now = (
                self.bus.counters().deliveries,
                self.streams.counters().invocations,
            );
            if Some(now) == last {
                quiet_rounds += 1;
            } else {
                quiet_rounds = 0;
            }
            last = Some(now);
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Stops every part; function instances and a moto the stack started are killed.
    /// Records still buffered in the delivery streams are written first.
    pub async fn shutdown(mut self) {
        if let Some(g) = self.gateway.take() {
            g.shutdown().await;
        }
        self.lake.stop().await;
        match &self.backend {
            Backend::Native(runtime) => runtime.shutdown().await,
            Backend::Sam(sam, _) => sam.shutdown().await,
        }
        self.moto.stop().await;
    }
}

/// The template's delivery streams, writing to its buckets in moto and a copy under
/// [`Lake::dir`].
pub struct Lake {
    pub streams: Arc<DeliveryStreams>,
    /// `<dir>/<bucket>/<key>` for every object written.
    pub dir: PathBuf,
    timer: tokio::task::JoinHandle<()>,
}

impl Lake {
    fn start(
        options: &StackOptions,
        model: &Stack,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Lake, StackError> {
        let dir = options.lake_dir.clone().unwrap_or_else(|| {
            // One per stack, so that stacks side by side (tests) keep their lakes apart.
            let n = LAKES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            options
                .root
                .join(format!("target/local/lake-{}-{n}", std::process::id()))
        });
        // The copy mirrors this run's S3, which starts empty.
        let _ = std::fs::remove_dir_all(&dir);
        let specs = specs::delivery_streams(model, options.timing.factor())
            .map_err(|e| failed("delivery streams")(e))?;
        let store = Arc::new(S3Store(provision::s3_client(sdk)));
        let streams =
            DeliveryStreams::new(specs, store, dir.clone()).map_err(failed("delivery streams"))?;
        let timer = streams.spawn_timer();
        Ok(Lake {
            streams,
            dir,
            timer,
        })
    }

    /// Writes every buffered record now (what a query after a run wants).
    pub async fn flush(&self) {
        self.streams.flush().await;
    }

    async fn stop(&self) {
        self.streams.stop_timer(&self.timer).await;
        self.streams.flush().await;
    }
}

static LAKES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Where `sam build` put the artifacts and their template.
pub fn sam_build_dir(options: &StackOptions) -> PathBuf {
    options.root.join(".aws-sam/build")
}

/// Each invocation's REPORT line (init duration on cold starts, duration, max RSS), beside
/// the bus's delivery lines.
fn report_sink(mode: LogMode) -> Option<crate::lambda::ReportSink> {
    match mode {
        LogMode::Quiet => None,
        LogMode::Human => Some(Arc::new(|r| eprintln!("{r}"))),
        LogMode::Json => Some(Arc::new(|r| {
            eprintln!(
                "{}",
                serde_json::json!({"component": "runtime", "report": r.to_string()})
            )
        })),
    }
}

/// The functions' own log lines (their JSON logs), tagged with the function.
fn function_log_sink(mode: LogMode) -> Option<crate::lambda::LogSink> {
    match mode {
        LogMode::Quiet => None,
        LogMode::Human => Some(Arc::new(|function, line| eprintln!("{function} | {line}"))),
        LogMode::Json => Some(Arc::new(|function, line| {
            eprintln!(
                "{}",
                serde_json::json!({"component": "function", "function": function, "line": line})
            )
        })),
    }
}

/// A part of the stack that could not start, and why.
fn failed<E: std::fmt::Display>(part: &'static str) -> impl FnOnce(E) -> StackError {
    move |e| StackError::Start {
        part,
        message: e.to_string(),
    }
}

/// The bus with the template's buses and rules, on the listener bound for it.
async fn start_bus(
    options: &StackOptions,
    model: &Stack,
    sdk: &aws_config::SdkConfig,
    invoker: Arc<dyn Invoker>,
    streams: Arc<DeliveryStreams>,
    listener: std::net::TcpListener,
) -> Result<Bus, StackError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    Bus::start(
        specs::buses(model),
        specs::rules(model),
        invoker,
        sqs,
        BusOptions {
            streams: Some(streams),
            chaos: options.chaos.clone(),
            timing: options.timing.clone(),
            log: options.log,
            ..BusOptions::default()
        },
        listener,
    )
    .await
    .map_err(failed("bus"))
}

/// The stream pollers of the template's stream mappings, calling AWS as one caller.
async fn start_stream_pollers(
    options: &StackOptions,
    model: &Stack,
    sdk: &aws_config::SdkConfig,
    invoker: Arc<dyn Invoker>,
) -> Result<StreamPoller, StackError> {
    StreamPoller::start(
        specs::stream_mappings(model),
        aws_sdk_dynamodbstreams::Client::new(sdk),
        aws_sdk_dynamodb::Client::new(sdk),
        invoker,
        aws_sdk_sqs::Client::new(sdk),
        StreamOptions {
            log: options.log,
            poll_interval: Duration::from_millis(100),
            ..StreamOptions::default()
        },
    )
    .await
    .map_err(failed("stream pollers"))
}

#[cfg(test)]
mod tests {
    use super::parse_aws_endpoint;

    #[test]
    fn an_aws_endpoint_is_http_host_and_port() {
        assert_eq!(
            parse_aws_endpoint("http://127.0.0.1:5000/").as_deref(),
            Ok("http://127.0.0.1:5000")
        );
        assert_eq!(
            parse_aws_endpoint("http://localhost:4566").as_deref(),
            Ok("http://localhost:4566")
        );
        for bad in [
            "https://127.0.0.1:5000",
            "127.0.0.1:5000",
            "http://127.0.0.1",
            "http://127.0.0.1:0",
            "http://127.0.0.1:99999",
            "http://127.0.0.1:5000/path",
            "http://:5000",
        ] {
            let err = parse_aws_endpoint(bad).expect_err(bad);
            assert!(err.starts_with("--aws"), "{bad}: {err}");
        }
    }
}
