//! The EventBridge JSON 1.1 API: `POST /` with `X-Amz-Target: AWSEvents.<Op>`. SigV4
//! signatures are not checked (the bus listens on loopback only).

use super::deliver::route;
use super::request::{ApiError, CONTENT_TYPE, opt_str, paged, parse_time, req_str};
use super::{AtomicCounters, Inner, archive};
use crate::pattern::Pattern;
use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// AWS's limit on the total size of a PutEvents request's entries.
pub const MAX_REQUEST_BYTES: usize = 256 * 1024;
/// AWS's limit on the number of entries per PutEvents.
pub const MAX_ENTRIES: usize = 10;
/// The largest request body read. Bodies between [`MAX_REQUEST_BYTES`] and this are parsed
/// so that PutEvents can answer AWS's own `ValidationException` about the entries' size;
/// above it the body is not read at all (413, still a JSON error).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// A failed PutEvents entry: `{"ErrorCode", "ErrorMessage"}` in the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct EntryError {
    pub code: String,
    pub message: String,
}

impl EntryError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        EntryError {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// One PutEvents entry, as the API takes it (fields optional so that validation can
/// report what is missing, as AWS does).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PutEventsEntry {
    pub source: Option<String>,
    pub detail_type: Option<String>,
    /// JSON text of an object.
    pub detail: Option<String>,
    /// Name or ARN; `default` when absent.
    pub event_bus_name: Option<String>,
    pub resources: Vec<String>,
    pub time: Option<DateTime<Utc>>,
}

pub(crate) fn router(inner: Arc<Inner>) -> Router {
    // axum's own answers (its 2 MB body limit, unknown paths and methods) are plain text
    // or empty; an SDK or the CLI reads JSON errors, so every answer here is one.
    Router::new()
        .route("/", post(handle).fallback(wrong_method))
        .fallback(unknown_path)
        .layer(DefaultBodyLimit::disable())
        .with_state(inner)
}

async fn wrong_method(method: Method, body: Body) -> Response {
    drain(body).await;
    ApiError::new(
        "UnknownOperationException",
        format!("{method} / is not an operation: the EventBridge API is POST / with X-Amz-Target"),
    )
    .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

async fn unknown_path(method: Method, uri: Uri, body: Body) -> Response {
    drain(body).await;
    ApiError::new(
        "UnknownOperationException",
        format!(
            "{method} {} is not an operation: the EventBridge API is POST / with X-Amz-Target",
            uri.path()
        ),
    )
    .with_status(StatusCode::NOT_FOUND)
}

/// Reads a body nobody needs: a connection closed with unread bytes is reset, and the
/// reset can overtake the answer on its way to the client.
async fn drain(body: Body) {
    let _ = axum::body::to_bytes(body, MAX_BODY_BYTES).await;
}

async fn handle(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Body) -> Response {
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return ApiError::validation(format!(
            "Request body is over {MAX_BODY_BYTES} bytes (PutEvents takes at most {MAX_REQUEST_BYTES} bytes of entries)"
        ))
        .with_status(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    match dispatch(&inner, target, &body) {
        Ok(v) => {
            let mut resp = (StatusCode::OK, v.to_string()).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            resp
        }
        Err(e) => e.into_response(),
    }
}

pub(super) fn dispatch(inner: &Arc<Inner>, target: &str, body: &[u8]) -> Result<Value, ApiError> {
    let Some(op) = target.strip_prefix("AWSEvents.") else {
        return Err(ApiError::new(
            "UnknownOperationException",
            format!("Missing or unknown X-Amz-Target header: '{target}'"),
        ));
    };
    let req: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::serialization(format!("Request body is not valid JSON: {e}")))?
    };
    if !req.is_object() {
        return Err(ApiError::serialization(
            "Request body must be a JSON object",
        ));
    }
    match op {
        "PutEvents" => put_events_op(inner, &req),
        "TestEventPattern" => test_event_pattern(&req),
        "ListRules" => list_rules(inner, &req),
        "DescribeRule" => describe_rule(inner, &req),
        "ListTargetsByRule" => list_targets_by_rule(inner, &req),
        "ListEventBuses" => list_event_buses(inner, &req),
        "DescribeEventBus" => describe_event_bus(inner, &req),
        "ListArchives" => archive::list_archives_op(inner, &req),
        "DescribeArchive" => archive::describe_archive_op(inner, &req),
        "StartReplay" => archive::start_replay_op(inner, &req),
        "DescribeReplay" => archive::describe_replay_op(inner, &req),
        "ListReplays" => archive::list_replays_op(inner, &req),
        "CancelReplay" => archive::cancel_replay_op(inner, &req),
        other => Err(ApiError::new(
            "UnknownOperationException",
            format!("Operation {other} is not supported by the local event bus"),
        )),
    }
}

fn parse_entry(v: &Value) -> Result<PutEventsEntry, ApiError> {
    if !v.is_object() {
        return Err(ApiError::serialization("Each entry must be a JSON object"));
    }
    let resources = match v.get("Resources") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| {
                r.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::serialization("Resources must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::serialization("Resources must be a list")),
    };
    Ok(PutEventsEntry {
        source: opt_str(v, "Source")?.map(str::to_owned),
        detail_type: opt_str(v, "DetailType")?.map(str::to_owned),
        detail: opt_str(v, "Detail")?.map(str::to_owned),
        event_bus_name: opt_str(v, "EventBusName")?.map(str::to_owned),
        resources,
        time: parse_time(v.get("Time").unwrap_or(&Value::Null))?,
    })
}

fn put_events_op(inner: &Arc<Inner>, req: &Value) -> Result<Value, ApiError> {
    let entries = match req.get("Entries") {
        Some(Value::Array(a)) => a.iter().map(parse_entry).collect::<Result<Vec<_>, _>>()?,
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(ApiError::serialization("Entries must be a list")),
    };
    let results = put_events(inner, entries)?;
    let failed = results.iter().filter(|r| r.is_err()).count();
    let out: Vec<Value> = results
        .into_iter()
        .map(|r| match r {
            Ok(id) => json!({"EventId": id}),
            Err(e) => json!({"ErrorCode": e.code, "ErrorMessage": e.message}),
        })
        .collect();
    Ok(json!({"FailedEntryCount": failed, "Entries": out}))
}

/// The bus name of a name or an event-bus ARN.
fn bus_name(name_or_arn: &str) -> &str {
    if name_or_arn.starts_with("arn:") {
        name_or_arn
            .rsplit_once(":event-bus/")
            .map(|(_, n)| n)
            .unwrap_or(name_or_arn)
    } else {
        name_or_arn
    }
}

/// AWS counts an entry's size as its Time (14 bytes), Source, DetailType, Detail and
/// Resources in UTF-8.
fn entry_size(e: &PutEventsEntry) -> usize {
    let s = |o: &Option<String>| o.as_deref().map_or(0, str::len);
    e.time.map_or(0, |_| 14)
        + s(&e.source)
        + s(&e.detail_type)
        + s(&e.detail)
        + e.resources.iter().map(String::len).sum::<usize>()
}

pub(crate) fn put_events(
    inner: &Arc<Inner>,
    entries: Vec<PutEventsEntry>,
) -> Result<Vec<Result<String, EntryError>>, ApiError> {
    if entries.is_empty() {
        return Err(ApiError::validation(
            "1 validation error detected: Value '[]' at 'entries' failed to satisfy constraint: Member must have length greater than or equal to 1",
        ));
    }
    if entries.len() > MAX_ENTRIES {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length less than or equal to {MAX_ENTRIES}"
        )));
    }
    if entries.iter().map(entry_size).sum::<usize>() > MAX_REQUEST_BYTES {
        return Err(ApiError::validation(
            "Total size of the entries in the request is over the limit.",
        ));
    }
    Ok(entries.into_iter().map(|e| accept(inner, e)).collect())
}

fn required(field: &str, v: &Option<String>) -> Result<String, EntryError> {
    match v.as_deref() {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(EntryError::new(
            "InvalidArgument",
            format!("Parameter {field} is not valid. Reason: {field} is a required argument."),
        )),
    }
}

/// Validates one entry, builds its envelope, archives it and routes it.
fn accept(inner: &Arc<Inner>, e: PutEventsEntry) -> Result<String, EntryError> {
    let source = required("Source", &e.source)?;
    let detail_type = required("DetailType", &e.detail_type)?;
    let detail_text = required("Detail", &e.detail)?;
    let detail: Value = match serde_json::from_str(&detail_text) {
        Ok(v @ Value::Object(_)) => v,
        _ => return Err(EntryError::new("MalformedDetail", "Detail is malformed.")),
    };
    // Stricter than AWS, which silently accepts events for a bus that does not exist:
    // locally a typo in a bus name should be loud.
    let bus = bus_name(e.event_bus_name.as_deref().unwrap_or("default")).to_owned();
    let Some(state) = inner.bus(&bus) else {
        return Err(EntryError::new(
            "InvalidArgument",
            format!("Parameter EventBusName is not valid. Reason: Event bus {bus} does not exist."),
        ));
    };
    let id = uuid::Uuid::new_v4().to_string();
    let now = Utc::now();
    let time = e.time.unwrap_or(now);
    let event = Arc::new(json!({
        "version": "0",
        "id": id,
        "detail-type": detail_type,
        "source": source,
        "account": inner.options.account_id,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": inner.options.region,
        "resources": e.resources,
        "detail": detail,
    }));
    AtomicCounters::bump(&inner.counters.events_accepted);
    // Replays select on the event's time as the event carries it: whole seconds.
    archive::record(inner, state, &event, now, time.trunc_subsecs(0));
    route(inner, &bus, event);
    Ok(id)
}

/// AWS requires these fields in TestEventPattern's event.
const TEST_EVENT_FIELDS: [&str; 7] = [
    "id",
    "account",
    "source",
    "time",
    "region",
    "resources",
    "detail-type",
];

fn test_event_pattern(req: &Value) -> Result<Value, ApiError> {
    let pattern = req_str(req, "EventPattern")?;
    let event = req_str(req, "Event")?;
    let pattern = Pattern::parse(pattern)
        .map_err(|e| ApiError::new("InvalidEventPatternException", e.to_string()))?;
    let parsed: Value = match serde_json::from_str(event) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return Err(ApiError::validation(
                "Parameter Event is not valid. Reason: Event is not a valid JSON object.",
            ));
        }
    };
    let missing: Vec<&str> = TEST_EVENT_FIELDS
        .iter()
        .copied()
        .filter(|f| parsed.get(f).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::validation(format!(
            "Parameter Event is not valid. Reason: Provided Event is missing required field(s): {}",
            missing.join(", ")
        )));
    }
    // Match the raw text so that numbers compare as written.
    let result = pattern
        .matches_json(event)
        .map_err(|e| ApiError::validation(e.to_string()))?;
    Ok(json!({"Result": result}))
}

/// The bus named by `EventBusName` (name or ARN; `default` when absent).
fn find_bus<'a>(inner: &'a Inner, req: &Value) -> Result<&'a super::BusState, ApiError> {
    let name = bus_name(opt_str(req, "EventBusName")?.unwrap_or("default"));
    inner.bus(name).ok_or_else(|| {
        ApiError::new(
            "ResourceNotFoundException",
            format!("Event bus {name} does not exist."),
        )
    })
}

fn rule_json(rule: &super::Rule) -> Value {
    json!({
        "Name": rule.spec.name,
        "Arn": rule.arn,
        "EventPattern": rule.spec.pattern_json,
        "State": if rule.spec.enabled { "ENABLED" } else { "DISABLED" },
        "EventBusName": rule.spec.bus,
    })
}

fn list_rules(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let bus = find_bus(inner, req)?;
    let prefix = opt_str(req, "NamePrefix")?.unwrap_or_default();
    let rules: Vec<Value> = bus
        .rules
        .iter()
        .filter(|r| r.spec.name.starts_with(prefix))
        .map(|r| rule_json(r))
        .collect();
    paged("Rules", rules, req)
}

fn find_rule<'a>(inner: &'a Inner, req: &Value, key: &str) -> Result<&'a super::Rule, ApiError> {
    let bus = find_bus(inner, req)?;
    let name = req_str(req, key)?;
    bus.rules
        .iter()
        .find(|r| r.spec.name == name)
        .map(|r| r.as_ref())
        .ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("Rule {name} does not exist on EventBus {}.", bus.spec.name),
            )
        })
}

fn describe_rule(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let rule = find_rule(inner, req, "Name")?;
    let mut out = rule_json(rule);
    out["CreatedBy"] = Value::String(inner.options.account_id.clone());
    Ok(out)
}

fn list_targets_by_rule(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let rule = find_rule(inner, req, "Rule")?;
    let t = &rule.spec.target;
    let mut target = json!({
        "Id": t.id,
        "Arn": rule.target_arn,
        "RetryPolicy": {
            "MaximumRetryAttempts": t.retry.max_attempts,
            "MaximumEventAgeInSeconds": t.retry.max_event_age.as_secs(),
        },
    });
    if let Some(q) = &t.dead_letter_queue_url {
        target["DeadLetterConfig"] =
            json!({"Arn": crate::aws::queue_arn(&inner.options.region, q)});
    }
    if let Some((field, value)) = t.input.target_field() {
        target[field] = value;
    }
    Ok(json!({"Targets": [target]}))
}

fn list_event_buses(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let prefix = opt_str(req, "NamePrefix")?.unwrap_or_default();
    let buses: Vec<Value> = inner
        .buses
        .iter()
        .filter(|b| b.spec.name.starts_with(prefix))
        .map(|b| json!({"Name": b.spec.name, "Arn": b.arn}))
        .collect();
    paged("EventBuses", buses, req)
}

fn describe_event_bus(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let name = bus_name(opt_str(req, "Name")?.unwrap_or("default"));
    let bus = inner.bus(name).ok_or_else(|| {
        ApiError::new(
            "ResourceNotFoundException",
            format!("Event bus {name} does not exist."),
        )
    })?;
    Ok(json!({"Name": bus.spec.name, "Arn": bus.arn}))
}
