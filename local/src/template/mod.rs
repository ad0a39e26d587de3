//! template.yaml as a model of the stack: functions, HTTP routes, EventBridge rules,
//! stream mappings, tables, queues, buses and archives, and the warehouse (bucket, Glue
//! table, delivery stream, named queries), with every intrinsic resolved.
//!
//! ```no_run
//! use eventmart_local::template::{LocalNaming, Stack};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let naming = LocalNaming::new("http://127.0.0.1:40123");
//! let stack = Stack::load("template.yaml".as_ref(), &naming, &Default::default())?;
//! for rule in &stack.rules {
//!     println!("{} on {} -> {:?}", rule.name, rule.bus, rule.target);
//! }
//! # Ok(()) }
//! ```
//!
//! The loader is strict: a resource type, property, event type or intrinsic it does not
//! support is a [`TemplateError`] naming the resource and property, so the local stack
//! never silently behaves differently from the deployed one. Properties that only matter
//! on AWS (IAM policies, tracing, deletion policies, alarms, queue policies) are accepted
//! and ignored; their intrinsics are still resolved, so a dangling `!Ref` is an error.
//!
//! SAM semantics followed: `Globals.Function` and `Globals.HttpApi` are merged into each
//! resource (maps merge recursively, lists are concatenated Globals first, scalars and
//! intrinsics are replaced by the resource's value); an EventBridgeRule event becomes a
//! rule named `<Function><Event>` unless `RuleName` is set; an `HttpApi` event without
//! `ApiId` belongs to the implicit API `ServerlessHttpApi`.

mod build;
mod naming;
mod resolve;
#[cfg(test)]
mod tests;

pub use naming::{LOCAL_STREAM_LABEL, LocalNaming, Naming};

use crate::eventbridge::transform::TargetInput;
use crate::pattern::Pattern;
use crate::warehouse::schema::TableSchema;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Why a template cannot be run locally. `Display`:
/// `template.yaml: OrdersTable.Properties.GlobalSecondaryIndexes: not supported by the local stack`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct TemplateError {
    /// The file name (`template.yaml` for [`Stack::parse`]).
    pub file: String,
    /// The logical id of the resource, or the top-level section (`Parameters`,
    /// `Conditions`, `Outputs`, `Globals`); empty for errors about the whole file.
    pub resource: String,
    /// The property path inside it, e.g. `Properties.Events.Orders.Properties.Pattern`.
    pub property: String,
    pub message: String,
}

impl TemplateError {
    fn render(&self) -> String {
        let at = match (self.resource.is_empty(), self.property.is_empty()) {
            (true, true) => String::new(),
            (false, true) => format!("{}: ", self.resource),
            (true, false) => format!("{}: ", self.property),
            (false, false) => format!("{}.{}: ", self.resource, self.property),
        };
        format!("{}: {at}{}", self.file, self.message)
    }
}

/// The stack a template describes, resolved for one [`Naming`]. Every list is in template
/// order.
#[derive(Debug, Clone)]
pub struct Stack {
    pub description: Option<String>,
    /// Every parameter's value (default or override).
    pub parameters: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    pub http_apis: Vec<HttpApi>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
    pub stream_mappings: Vec<StreamMapping>,
    pub tables: Vec<Table>,
    pub queues: Vec<Queue>,
    pub buses: Vec<Bus>,
    pub archives: Vec<Archive>,
    pub user_pools: Vec<UserPool>,
    pub user_pool_clients: Vec<UserPoolClient>,
    pub user_pool_groups: Vec<UserPoolGroup>,
    pub buckets: Vec<Bucket>,
    pub glue_tables: Vec<GlueTable>,
    pub delivery_streams: Vec<DeliveryStream>,
    pub named_queries: Vec<NamedQuery>,
    /// Resources accepted but with no local effect (alarms, queue policies, IAM).
    pub ignored: Vec<IgnoredResource>,
    /// The template's outputs whose condition holds, resolved.
    pub outputs: BTreeMap<String, String>,
}

/// An `AWS::Serverless::Function`, Globals merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub logical_id: String,
    /// Physical name (`FunctionName`, else as [`Naming`] says).
    pub name: String,
    pub arn: String,
    /// The cargo-lambda binary, `Metadata.BuildProperties.Binary`.
    pub binary: String,
    /// E.g. `provided.al2023`.
    pub runtime: String,
    pub handler: Option<String>,
    /// Resolved `Environment.Variables`, Globals merged.
    pub environment: BTreeMap<String, String>,
    /// `Timeout` (default 3 s).
    pub timeout: Duration,
    /// `MemorySize` in MB (default 128).
    pub memory_size: u32,
    pub architecture: Architecture,
    pub reserved_concurrency: Option<u32>,
    pub logging: Option<Logging>,
    /// Lambda's asynchronous-invocation settings (`EventInvokeConfig`).
    pub async_config: AsyncConfig,
}

/// `Architectures`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    X86_64,
    Arm64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        }
    }
}

/// `LoggingConfig` (Lambda's advanced logging controls).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Logging {
    /// `Text` or `JSON`.
    pub log_format: Option<String>,
    pub application_log_level: Option<String>,
    pub system_log_level: Option<String>,
}

/// How Lambda retries a failed asynchronous invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncConfig {
    /// Retries after the first attempt, 0..=2 (default 2).
    pub maximum_retry_attempts: u32,
    /// Default 6 hours.
    pub maximum_event_age: Duration,
    /// Logical id of the SQS queue of `DestinationConfig.OnFailure`.
    pub on_failure_queue: Option<String>,
}

impl Default for AsyncConfig {
    fn default() -> Self {
        AsyncConfig {
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(6 * 3600),
            on_failure_queue: None,
        }
    }
}

/// An `AWS::Serverless::HttpApi` (the implicit `ServerlessHttpApi` is listed when a route
/// uses it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpApi {
    pub logical_id: String,
    pub description: Option<String>,
    /// `Auth.Authorizers`: the JWT authorizers, by name.
    pub authorizers: BTreeMap<String, JwtAuthorizer>,
    /// `Auth.DefaultAuthorizer`: what a route without its own `Auth` uses.
    pub default_authorizer: Option<String>,
}

/// A JWT authorizer of an HTTP API (`Auth.Authorizers.<name>.JwtConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtAuthorizer {
    /// `issuer`: the tokens' `iss`; its keys are at `<issuer>/.well-known/jwks.json`.
    pub issuer: String,
    /// `audience`: a token's `aud` (or, without one, `client_id`) must be among these.
    pub audiences: Vec<String>,
    /// The header holding `Bearer <token>` (`IdentitySource`, `$request.header.<name>`),
    /// lower case.
    pub header: String,
}

/// Who may call a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteAuth {
    /// Anyone (`Auth.Authorizer: NONE`, or an API without a default authorizer).
    Public,
    /// A valid token of the API's authorizer `authorizer`, holding one of `scopes` if any.
    Jwt {
        authorizer: String,
        scopes: Vec<String>,
    },
}

/// One `HttpApi` event: a route of API Gateway's HTTP API (payload format 2.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Upper case, or `ANY`.
    pub method: String,
    /// E.g. `/orders/{orderId}`, `/{proxy+}`, or `$default`.
    pub path: String,
    /// Logical id of the function.
    pub function: String,
    /// The event's name in the function's `Events`.
    pub event: String,
    /// Logical id of the HttpApi.
    pub api_id: String,
    /// `TimeoutInMillis` (API Gateway's default is 30 s).
    pub timeout: Option<Duration>,
    /// The route's `Auth`, else its API's default authorizer.
    pub auth: RouteAuth,
}

/// One `EventBridgeRule` event: a rule with a single Lambda target.
#[derive(Debug, Clone)]
pub struct Rule {
    /// `RuleName`, else `<Function><Event>`.
    pub name: String,
    /// The bus name (`default` when `EventBusName` is absent).
    pub bus: String,
    /// The event pattern as written (intrinsics resolved).
    pub pattern: Value,
    /// The same pattern, compiled.
    pub compiled: Pattern,
    /// What the rule delivers to.
    pub target: RuleTarget,
    /// The event's name in the function's `Events`; the rule's logical id for an
    /// `AWS::Events::Rule`.
    pub event: String,
    /// `Target.Id`, else SAM's `<Function><Event>LambdaTarget`.
    pub target_id: String,
    /// The target's `Input`, `InputPath` or `InputTransformer`.
    pub input: TargetInput,
    /// `State: DISABLED` gives false.
    pub enabled: bool,
    pub retry_policy: RetryPolicy,
    /// Logical id of the queue of `DeadLetterConfig.Arn`.
    pub dead_letter_queue: Option<String>,
}

/// A rule's target, by logical id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleTarget {
    Function(String),
    DeliveryStream(String),
}

impl Rule {
    /// The logical id of the function the rule invokes, if its target is a function.
    pub fn function(&self) -> Option<&str> {
        match &self.target {
            RuleTarget::Function(f) => Some(f),
            RuleTarget::DeliveryStream(_) => None,
        }
    }
}

/// A rule target's `RetryPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Default 185.
    pub maximum_retry_attempts: u32,
    /// Default 24 hours.
    pub maximum_event_age: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            maximum_retry_attempts: 185,
            maximum_event_age: Duration::from_secs(86400),
        }
    }
}

/// One `DynamoDB` event: an event source mapping from a table's stream.
#[derive(Debug, Clone)]
pub struct StreamMapping {
    /// Logical id of the function.
    pub function: String,
    /// The event's name in the function's `Events`.
    pub event: String,
    /// Logical id of the table (from `!GetAtt <Table>.StreamArn`).
    pub table: String,
    /// The resolved `Stream` value.
    pub stream_arn: String,
    pub enabled: bool,
    /// Default 100.
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub maximum_batching_window: Duration,
    pub starting_position: StartingPosition,
    pub bisect_batch_on_function_error: bool,
    /// `None` is AWS's -1 (retry until the record expires), the default.
    pub maximum_retry_attempts: Option<u32>,
    /// `None` is AWS's -1 (infinite), the default.
    pub maximum_record_age: Option<Duration>,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
    /// Default 1.
    pub parallelization_factor: u32,
    /// `FilterCriteria.Filters`; a record is delivered when any matches (none: all are).
    pub filters: Vec<Filter>,
    /// Logical id of the queue of `DestinationConfig.OnFailure.Destination`.
    pub on_failure_queue: Option<String>,
}

/// `StartingPosition` of a stream mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    TrimHorizon,
    Latest,
}

/// One filter of an event source mapping.
#[derive(Debug, Clone)]
pub struct Filter {
    /// The pattern text as written.
    pub pattern: String,
    pub compiled: Pattern,
}

/// An `AWS::DynamoDB::Table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub logical_id: String,
    /// Physical name (`TableName`, else as [`Naming`] says).
    pub name: String,
    pub arn: String,
    /// Present when the table has a stream.
    pub stream_arn: Option<String>,
    pub key_schema: Vec<KeyElement>,
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub billing_mode: BillingMode,
    pub stream_view_type: Option<StreamViewType>,
    /// The TTL attribute when `TimeToLiveSpecification.Enabled`.
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyElement {
    pub attribute_name: String,
    pub key_type: KeyType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Hash,
    Range,
}

impl KeyType {
    /// DynamoDB's spelling (`HASH`, `RANGE`).
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Hash => "HASH",
            KeyType::Range => "RANGE",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeDefinition {
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingMode {
    PayPerRequest,
    Provisioned {
        read_capacity_units: u64,
        write_capacity_units: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamViewType {
    KeysOnly,
    NewImage,
    OldImage,
    NewAndOldImages,
}

impl StreamViewType {
    /// DynamoDB's spelling (`NEW_IMAGE`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            StreamViewType::KeysOnly => "KEYS_ONLY",
            StreamViewType::NewImage => "NEW_IMAGE",
            StreamViewType::OldImage => "OLD_IMAGE",
            StreamViewType::NewAndOldImages => "NEW_AND_OLD_IMAGES",
        }
    }
}

/// An `AWS::Cognito::UserPool`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPool {
    pub logical_id: String,
    /// `UserPoolName`.
    pub name: String,
    /// The `!Ref` value: the pool id (assigned by the server once created; see
    /// [`LocalNaming::assigned`]).
    pub id: String,
    /// `ProviderURL`: the tokens' issuer, `https://cognito-idp.<region>.amazonaws.com/<id>`.
    pub issuer: String,
    /// The resolved properties, as CloudFormation spells them (`UsernameAttributes`,
    /// `Policies`, ...): the same names as Cognito's `CreateUserPool` but `UserPoolName`.
    pub properties: serde_json::Map<String, Value>,
}

/// An `AWS::Cognito::UserPoolClient`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPoolClient {
    pub logical_id: String,
    /// The logical id of its pool (`UserPoolId: !Ref <pool>`).
    pub user_pool: String,
    /// `ClientName`.
    pub name: String,
    /// The `!Ref` value: the client id, the tokens' audience.
    pub id: String,
    /// The resolved properties but `UserPoolId`, as CloudFormation spells them (the
    /// names of Cognito's `CreateUserPoolClient`).
    pub properties: serde_json::Map<String, Value>,
}

/// An `AWS::Cognito::UserPoolGroup`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPoolGroup {
    pub logical_id: String,
    /// The logical id of its pool.
    pub user_pool: String,
    /// `GroupName`: what the tokens' `cognito:groups` claim lists.
    pub name: String,
    pub description: Option<String>,
    pub precedence: Option<u32>,
}

/// An `AWS::SQS::Queue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    pub logical_id: String,
    /// Physical name (`QueueName`, else as [`Naming`] says).
    pub name: String,
    /// The `!Ref` value.
    pub url: String,
    pub arn: String,
    /// SQS attributes for `CreateQueue` (`MessageRetentionPeriod`, `VisibilityTimeout`,
    /// `RedrivePolicy` as JSON text, ...), as strings.
    pub attributes: BTreeMap<String, String>,
}

/// An `AWS::Events::EventBus`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bus {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
}

/// An `AWS::Events::Archive`.
#[derive(Debug, Clone)]
pub struct Archive {
    pub logical_id: String,
    pub name: String,
    /// The archived bus's name.
    pub bus: String,
    pub description: Option<String>,
    /// `EventPattern`; `None` archives every event.
    pub pattern: Option<Value>,
    pub compiled: Option<Pattern>,
    /// `None` (or 0 in the template) keeps events forever.
    pub retention_days: Option<u32>,
}

/// An `AWS::S3::Bucket`: created empty in the local S3.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub logical_id: String,
    pub name: String,
}

/// An `AWS::Glue::Table`: the warehouse's columns, the one place they are written.
#[derive(Debug, Clone, PartialEq)]
pub struct GlueTable {
    pub logical_id: String,
    /// Database, table name, columns and partition keys.
    pub schema: TableSchema,
    /// `StorageDescriptor.Location`, e.g. `s3://bucket/events/`.
    pub location: String,
}

/// An `AWS::KinesisFirehose::DeliveryStream` with an extended S3 destination.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryStream {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// Logical id of the destination bucket.
    pub bucket: String,
    /// `Prefix`, with Firehose's `!{...}` expressions unexpanded.
    pub prefix: String,
    /// `ErrorOutputPrefix`, likewise.
    pub error_prefix: String,
    /// `FileExtension` (none by default).
    pub file_extension: String,
    /// `BufferingHints.IntervalInSeconds` (default 300).
    pub buffer_interval: Duration,
    /// `BufferingHints.SizeInMBs` (default 5).
    pub buffer_size_mb: u32,
    /// Dynamic partitioning's `MetadataExtractionQuery` as written (JQ), if enabled.
    pub partition_query: Option<String>,
    /// Record format conversion, if enabled.
    pub conversion: Option<Conversion>,
}

/// A delivery stream's `DataFormatConversionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// Logical id of the Glue table it converts against.
    pub table: String,
    /// `HiveJsonSerDe.TimestampFormats` (empty: `java.sql.Timestamp::valueOf`'s form).
    pub timestamp_formats: Vec<String>,
    /// `ParquetSerDe.Compression` (default SNAPPY).
    pub compression: String,
}

/// An `AWS::Athena::NamedQuery`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedQuery {
    pub logical_id: String,
    pub name: String,
    pub description: Option<String>,
    /// The Glue database it runs in.
    pub database: String,
    pub query: String,
}

/// A resource accepted with no local effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IgnoredResource {
    pub logical_id: String,
    pub resource_type: String,
}

impl Stack {
    /// Reads and loads a template file; errors carry the file's name.
    pub fn load(
        path: &Path,
        naming: &dyn Naming,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Stack, TemplateError> {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let text = std::fs::read_to_string(path).map_err(|e| TemplateError {
            file: file.clone(),
            resource: String::new(),
            property: String::new(),
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        build::build(&text, naming, overrides).map_err(|e| TemplateError { file, ..e })
    }

    /// Loads template text; errors name the file `template.yaml`. `overrides` replace
    /// parameter defaults (and must satisfy `AllowedPattern` / `AllowedValues`).
    pub fn parse(
        yaml: &str,
        naming: &dyn Naming,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Stack, TemplateError> {
        build::build(yaml, naming, overrides)
    }

    /// The function with this logical id.
    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// The table with this logical id.
    pub fn table(&self, logical_id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.logical_id == logical_id)
    }

    /// The queue with this logical id.
    pub fn queue(&self, logical_id: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.logical_id == logical_id)
    }

    /// The delivery stream with this logical id.
    pub fn delivery_stream(&self, logical_id: &str) -> Option<&DeliveryStream> {
        self.delivery_streams
            .iter()
            .find(|d| d.logical_id == logical_id)
    }

    /// The Glue table with this logical id.
    pub fn glue_table(&self, logical_id: &str) -> Option<&GlueTable> {
        self.glue_tables.iter().find(|t| t.logical_id == logical_id)
    }

    /// The rules on the bus with this name, in template order.
    pub fn rules_on<'a>(&'a self, bus: &'a str) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.iter().filter(move |r| r.bus == bus)
    }

    /// Every bus name the stack uses: its buses, and `default` if a rule or archive is on it.
    pub fn bus_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.buses.iter().map(|b| b.name.clone()).collect();
        let uses_default = self.rules.iter().any(|r| r.bus == "default")
            || self.archives.iter().any(|a| a.bus == "default");
        if uses_default && !names.iter().any(|n| n == "default") {
            names.push("default".into());
        }
        names
    }
}
