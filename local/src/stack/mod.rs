//! The whole stack, wired from the template: moto with the template's tables, queues
//! and SES identities; the functions behind the Runtime API; the HTTP API; the bus with
//! its rules; the stream pollers.

use crate::apigateway::{Gateway, RouteSpec};
use crate::aws::REGION;
use crate::chaos::Chaos;
use crate::event_source_mapping::{StreamOptions, StreamPoller, StreamSpec};
use crate::eventbridge::{
    ArchiveSpec, AsyncInvoke, Bus, BusOptions, BusSpec, RetryPolicy, RuleSpec, TargetSpec, Timing,
};
use crate::lambda::{FunctionSpec, Invoker, Runtime, RuntimeOptions};
use crate::log::LogMode;
use crate::servers::moto::{Moto, MotoError};
use crate::servers::proxy::AwsProxy;
use crate::template::{LocalNaming, Stack, TemplateError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
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
        }
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
    #[error("creating {resource} in moto failed: {message}")]
    Provision { resource: String, message: String },
    #[error("starting {part}: {message}")]
    Start { part: &'static str, message: String },
}

/// Where each part listens.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub http_api: String,
    pub eventbridge: String,
    pub moto: String,
    pub dashboard: String,
}

/// A running stack. [`LocalStack::shutdown`] stops it; dropping it kills every process.
pub struct LocalStack {
    pub model: Stack,
    pub runtime: Arc<Runtime>,
    pub bus: Bus,
    pub streams: StreamPoller,
    gateway: Option<Gateway>,
    moto: Moto,
    /// Every function's (and the stream pollers') way to moto: counts requests, can cut a
    /// service.
    pub aws: AwsProxy,
    pub sdk: aws_config::SdkConfig,
    pub chaos: Chaos,
}

/// The stream pollers' name in [`LocalStack::aws`]'s counts.
pub const STREAM_POLLERS: &str = "stream-pollers";

impl LocalStack {
    pub async fn start(options: StackOptions) -> Result<LocalStack, StackError> {
        let log_dir = options.root.join("target/local");
        let moto = Moto::start(&options.root, &log_dir.join("moto.log")).await?;
        let naming = LocalNaming::new(moto.endpoint());
        let model = Stack::load(&options.template, &naming, &options.parameters)?;
        let binaries = binaries(&options, &model)?;
        let sdk = sdk_config(&moto.endpoint()).await;
        provision(&sdk, &model).await?;

        // The bus's address must be known before the functions start: outbox-relay reads it
        // from its environment. The listener stays bound until the bus takes it, so that
        // nothing else (a parallel test's stack) can take the port in between.
        let bus_listener =
            std::net::TcpListener::bind(options.bus_addr).map_err(|e| StackError::Start {
                part: "bus",
                message: e.to_string(),
            })?;
        let bus_addr = bus_listener.local_addr().map_err(|e| StackError::Start {
            part: "bus",
            message: e.to_string(),
        })?;
        let bus_url = format!("http://{bus_addr}");
        let callers: Vec<String> = model
            .functions
            .iter()
            .map(|f| f.logical_id.clone())
            .chain([STREAM_POLLERS.to_owned()])
            .collect();
        let aws = AwsProxy::start(&moto.endpoint(), &callers)
            .await
            .map_err(|e| StackError::Start {
                part: "AWS proxy",
                message: e.to_string(),
            })?;
        let aws_url = |caller: &str| aws.url(caller).unwrap_or_default().to_owned();

        let functions = model
            .functions
            .iter()
            .map(|f| {
                let mut env = f.environment.clone();
                for (k, v) in [
                    ("AWS_REGION", REGION.to_owned()),
                    ("AWS_DEFAULT_REGION", REGION.to_owned()),
                    ("AWS_ACCESS_KEY_ID", "local".to_owned()),
                    ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
                    ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
                    ("AWS_ENDPOINT_URL_DYNAMODB", aws_url(&f.logical_id)),
                    ("AWS_ENDPOINT_URL_SQS", aws_url(&f.logical_id)),
                    ("AWS_ENDPOINT_URL_SESV2", aws_url(&f.logical_id)),
                    ("AWS_ENDPOINT_URL_EVENTBRIDGE", bus_url.clone()),
                ] {
                    env.entry(k.to_owned()).or_insert(v);
                }
                FunctionSpec {
                    name: f.logical_id.clone(),
                    binary: binaries[&f.binary].clone(),
                    env,
                    timeout: f.timeout,
                    memory_mb: f.memory_size,
                }
            })
            .collect();
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
            .map_err(|e| StackError::Start {
                part: "runtime",
                message: e.to_string(),
            })?,
        );
        let invoker: Arc<dyn Invoker> = runtime.clone();
        let sqs = aws_sdk_sqs::Client::new(&sdk);

        let queue_url = |id: &Option<String>| {
            id.as_ref()
                .and_then(|id| model.queues.iter().find(|q| &q.logical_id == id))
                .map(|q| q.url.clone())
        };
        // The template's buses, and `default` when an archive is on it (the bus itself
        // exists in every account and is not in the template).
        let names = model
            .buses
            .iter()
            .map(|b| b.name.as_str())
            .chain(model.archives.iter().map(|a| a.bus.as_str()))
            .collect::<std::collections::BTreeSet<_>>();
        let buses = names
            .into_iter()
            .map(|name| BusSpec {
                name: name.to_owned(),
                archives: model
                    .archives
                    .iter()
                    .filter(|a| a.bus == name)
                    .map(|a| ArchiveSpec {
                        name: a.name.clone(),
                        description: a.description.clone(),
                        pattern: a.compiled.clone(),
                        pattern_json: a.pattern.as_ref().map(serde_json::Value::to_string),
                        retention_days: a.retention_days,
                    })
                    .collect(),
            })
            .collect();
        let rules = model
            .rules
            .iter()
            .map(|r| {
                let function = model.functions.iter().find(|f| f.logical_id == r.function);
                let async_config = function.map(|f| &f.async_config);
                RuleSpec {
                    name: r.name.clone(),
                    bus: r.bus.clone(),
                    pattern: r.compiled.clone(),
                    pattern_json: r.pattern.to_string(),
                    enabled: r.enabled,
                    target: TargetSpec {
                        id: r.target_id.clone(),
                        function: r.function.clone(),
                        retry: RetryPolicy {
                            max_attempts: r.retry_policy.maximum_retry_attempts,
                            max_event_age: r.retry_policy.maximum_event_age,
                        },
                        dead_letter_queue_url: queue_url(&r.dead_letter_queue),
                    },
                    async_invoke: AsyncInvoke {
                        max_retry_attempts: async_config.map_or(2, |a| a.maximum_retry_attempts),
                        max_event_age: async_config
                            .map_or(Duration::from_secs(6 * 3600), |a| a.maximum_event_age),
                        on_failure_queue_url: async_config
                            .and_then(|a| queue_url(&a.on_failure_queue)),
                        function_timeout: function.map_or(Duration::from_secs(3), |f| f.timeout),
                    },
                }
            })
            .collect();
        let bus = Bus::start(
            buses,
            rules,
            invoker.clone(),
            sqs,
            BusOptions {
                chaos: options.chaos.clone(),
                timing: options.timing.clone(),
                log: options.log,
                ..BusOptions::default()
            },
            bus_listener,
        )
        .await
        .map_err(|e| StackError::Start {
            part: "bus",
            message: e.to_string(),
        })?;

        let mappings = model
            .stream_mappings
            .iter()
            .filter(|m| m.enabled)
            .map(|m| StreamSpec {
                table_name: model
                    .tables
                    .iter()
                    .find(|t| t.logical_id == m.table)
                    .map(|t| t.name.clone())
                    .unwrap_or_else(|| m.table.clone()),
                function: m.function.clone(),
                batch_size: m.batch_size as usize,
                batching_window: m.maximum_batching_window,
                starting_position: match m.starting_position {
                    crate::template::StartingPosition::TrimHorizon => {
                        crate::event_source_mapping::StartingPosition::TrimHorizon
                    }
                    crate::template::StartingPosition::Latest => {
                        crate::event_source_mapping::StartingPosition::Latest
                    }
                },
                filters: m.filters.iter().map(|f| f.compiled.clone()).collect(),
                bisect_on_error: m.bisect_batch_on_function_error,
                max_retry_attempts: m.maximum_retry_attempts.unwrap_or(u32::MAX),
                report_batch_item_failures: m.report_batch_item_failures,
                max_record_age: m.maximum_record_age,
                on_failure_queue_url: queue_url(&m.on_failure_queue),
            })
            .collect();
        let pollers_sdk = sdk_config(&aws_url(STREAM_POLLERS)).await;
        let streams = StreamPoller::start(
            mappings,
            aws_sdk_dynamodbstreams::Client::new(&pollers_sdk),
            aws_sdk_dynamodb::Client::new(&pollers_sdk),
            invoker.clone(),
            aws_sdk_sqs::Client::new(&pollers_sdk),
            StreamOptions {
                log: options.log,
                poll_interval: Duration::from_millis(100),
                ..StreamOptions::default()
            },
        )
        .await
        .map_err(|e| StackError::Start {
            part: "stream pollers",
            message: e.to_string(),
        })?;

        let routes = model
            .routes
            .iter()
            .map(|r| {
                let route = RouteSpec::new(&r.method, &r.path, &r.function);
                match r.timeout {
                    Some(t) => route.with_timeout(t),
                    None => route,
                }
            })
            .collect();
        let gateway = Gateway::bind(options.http_addr, routes, invoker)
            .await
            .map_err(|e| StackError::Start {
                part: "HTTP API",
                message: e.to_string(),
            })?;

        Ok(LocalStack {
            model,
            runtime,
            bus,
            streams,
            gateway: Some(gateway),
            moto,
            aws,
            sdk,
            chaos: options.chaos,
        })
    }

    pub fn endpoints(&self) -> Endpoints {
        let http = self.gateway.as_ref().map(Gateway::url).unwrap_or_default();
        Endpoints {
            dashboard: format!("{http}/dashboard"),
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

    /// Stops every part; function instances and moto are killed.
    pub async fn shutdown(mut self) {
        if let Some(g) = self.gateway.take() {
            g.shutdown().await;
        }
        self.runtime.shutdown().await;
        self.moto.stop().await;
    }
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

/// The SDK configuration for talking to moto as the stack does.
pub async fn sdk_config(moto: &str) -> aws_config::SdkConfig {
    let creds =
        aws_sdk_sqs::config::Credentials::new("local", "local", None, None, "eventmart-local");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(eventmart_shared::aws::http_client())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(moto)
        .load()
        .await
}

/// Builds (unless told not to) and locates each function's binary.
fn binaries(
    options: &StackOptions,
    model: &Stack,
) -> Result<BTreeMap<String, PathBuf>, StackError> {
    let names: Vec<&str> = model.functions.iter().map(|f| f.binary.as_str()).collect();
    if options.build {
        let mut cmd =
            std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        cmd.current_dir(&options.root).arg("build").arg("--quiet");
        if options.release {
            cmd.arg("--release");
        }
        for n in &names {
            cmd.args(["--bin", n]);
        }
        let status = cmd.status().map_err(|e| StackError::Build(e.to_string()))?;
        if !status.success() {
            return Err(StackError::Build(format!(
                "cargo build exited with {status}"
            )));
        }
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| options.root.join("target"));
    let dir = target.join(if options.release { "release" } else { "debug" });
    names
        .into_iter()
        .map(|n| {
            let path = dir.join(n);
            if path.exists() {
                Ok((n.to_owned(), path))
            } else {
                Err(StackError::Build(format!(
                    "{} does not exist",
                    path.display()
                )))
            }
        })
        .collect()
}

/// Creates the template's tables (with streams and TTL), queues and SES identities in moto.
async fn provision(sdk: &aws_config::SdkConfig, model: &Stack) -> Result<(), StackError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    let fail = |resource: &str, e: &dyn std::fmt::Display| StackError::Provision {
        resource: resource.to_owned(),
        message: e.to_string(),
    };
    for t in &model.tables {
        let mut req = dynamodb
            .create_table()
            .table_name(&t.name)
            .billing_mode(BillingMode::PayPerRequest);
        for a in &t.attribute_definitions {
            let def = AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()
                .map_err(|e| fail(&t.logical_id, &e))?;
            req = req.attribute_definitions(def);
        }
        for k in &t.key_schema {
            let key = KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
                .map_err(|e| fail(&t.logical_id, &e))?;
            req = req.key_schema(key);
        }
        if let Some(view) = t.stream_view_type {
            let spec = StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()
                .map_err(|e| fail(&t.logical_id, &e))?;
            req = req.stream_specification(spec);
        }
        req.send().await.map_err(|e| {
            fail(
                &t.logical_id,
                &aws_sdk_dynamodb::error::DisplayErrorContext(e),
            )
        })?;
        if let Some(attr) = &t.ttl_attribute {
            let ttl = TimeToLiveSpecification::builder()
                .attribute_name(attr)
                .enabled(true)
                .build()
                .map_err(|e| fail(&t.logical_id, &e))?;
            dynamodb
                .update_time_to_live()
                .table_name(&t.name)
                .time_to_live_specification(ttl)
                .send()
                .await
                .map_err(|e| {
                    fail(
                        &t.logical_id,
                        &aws_sdk_dynamodb::error::DisplayErrorContext(e),
                    )
                })?;
        }
    }
    let sqs = aws_sdk_sqs::Client::new(sdk);
    // A redrive policy names its dead-letter queue, which must exist first.
    let mut queues: Vec<_> = model.queues.iter().collect();
    queues.sort_by_key(|q| q.attributes.contains_key("RedrivePolicy"));
    for q in queues {
        let attributes = q
            .attributes
            .iter()
            .map(|(k, v)| {
                (
                    aws_sdk_sqs::types::QueueAttributeName::from(k.as_str()),
                    v.clone(),
                )
            })
            .collect();
        sqs.create_queue()
            .queue_name(&q.name)
            .set_attributes(Some(attributes))
            .send()
            .await
            .map_err(|e| fail(&q.logical_id, &aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    }
    // Parameters holding an email address are senders: verify them as SES identities.
    let ses = aws_sdk_sesv2::Client::new(sdk);
    for (name, value) in &model.parameters {
        if value.contains('@') && !value.contains(char::is_whitespace) {
            ses.create_email_identity()
                .email_identity(value)
                .send()
                .await
                .map_err(|e| fail(name, &aws_sdk_sesv2::error::DisplayErrorContext(e)))?;
        }
    }
    Ok(())
}
