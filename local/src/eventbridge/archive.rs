//! Archives and replays: what `AWS::Events::Archive` keeps, and the API's archive and
//! replay operations (ListArchives, DescribeArchive, StartReplay, DescribeReplay,
//! ListReplays, CancelReplay), so that `aws events start-replay --endpoint-url ...`
//! replays a time range as on AWS.
//!
//! As on AWS: a replay selects events by the time in the event (start inclusive, end
//! exclusive), oldest first; replayed events carry a `replay-name` field and keep their
//! `id`; they go back to the rules of the archive's own bus (all of them, or those in
//! `FilterArns`) and are not archived again; events past the archive's retention are
//! gone. Locally a replay routes every selected event before StartReplay answers, so it
//! is `COMPLETED` when StartReplay answers (`RUNNING` only while its events are being
//! routed); its deliveries then run as any others.

use super::deliver::route_where;
use super::request::{ApiError, missing, opt_str, paged, parse_time, req_str};
use super::{BusState, Inner};
use crate::pattern::Pattern;
use chrono::{DateTime, Duration as Age, Utc};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// An archive of a bus (`AWS::Events::Archive`).
#[derive(Debug, Clone)]
pub struct ArchiveSpec {
    pub name: String,
    pub description: Option<String>,
    /// `None` archives every event of the bus.
    pub pattern: Option<Pattern>,
    /// The pattern as written, for DescribeArchive.
    pub pattern_json: Option<String>,
    /// `None` keeps events for as long as the stack runs.
    pub retention_days: Option<u32>,
}

impl ArchiveSpec {
    /// An archive of every event, kept forever.
    pub fn new(name: impl Into<String>) -> Self {
        ArchiveSpec {
            name: name.into(),
            description: None,
            pattern: None,
            pattern_json: None,
            retention_days: None,
        }
    }

    fn retention(&self) -> Option<Age> {
        self.retention_days.map(|d| Age::days(i64::from(d)))
    }
}

/// An event kept by an archive.
#[derive(Debug, Clone)]
pub struct ArchivedEvent {
    /// The archive's name.
    pub archive: String,
    pub bus: String,
    /// When the bus accepted it; retention counts from here.
    pub received: DateTime<Utc>,
    /// The event's time as its `time` field says (its `Time` entry, else `received`, in
    /// whole seconds); replays select on it.
    pub time: DateTime<Utc>,
    /// The full EventBridge envelope.
    pub event: Value,
}

/// What to replay: StartReplay's parameters.
#[derive(Debug, Clone)]
pub struct ReplayRequest {
    pub name: String,
    pub description: Option<String>,
    /// The archive's name or ARN.
    pub archive: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The destination bus's ARN; `None` is the archive's own bus.
    pub destination: Option<String>,
    /// Rule ARNs to replay to; empty replays to every rule of the bus.
    pub filter_rules: Vec<String>,
}

impl ReplayRequest {
    /// A replay of `archive` (name or ARN) over `[from, to)` to every rule of its bus.
    pub fn new(
        name: impl Into<String>,
        archive: impl Into<String>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Self {
        ReplayRequest {
            name: name.into(),
            description: None,
            archive: archive.into(),
            from,
            to,
            destination: None,
            filter_rules: Vec::new(),
        }
    }
}

/// A replay, as DescribeReplay shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    pub name: String,
    pub arn: String,
    pub description: Option<String>,
    pub archive_arn: String,
    pub destination: String,
    pub filter_rules: Vec<String>,
    pub state: &'static str,
    pub state_reason: Option<String>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub started: DateTime<Utc>,
    pub ended: Option<DateTime<Utc>>,
    /// The time of the last event replayed.
    pub last_replayed: Option<DateTime<Utc>>,
    /// How many events it replayed.
    pub events: usize,
}

pub(crate) fn archive_arn(inner: &Inner, name: &str) -> String {
    let o = &inner.options;
    format!(
        "arn:aws:events:{}:{}:archive/{name}",
        o.region, o.account_id
    )
}

fn replay_arn(inner: &Inner, name: &str) -> String {
    let o = &inner.options;
    format!("arn:aws:events:{}:{}:replay/{name}", o.region, o.account_id)
}

/// Keeps `event` in every archive of `state` whose pattern it matches.
pub(crate) fn record(
    inner: &Inner,
    state: &BusState,
    event: &Value,
    received: DateTime<Utc>,
    time: DateTime<Utc>,
) {
    let matching = state
        .spec
        .archives
        .iter()
        .filter(|a| a.pattern.as_ref().is_none_or(|p| p.matches(event)));
    let mut kept = None;
    for a in matching {
        let kept = kept.get_or_insert_with(|| inner.archive.lock());
        if let Ok(kept) = kept {
            kept.push(ArchivedEvent {
                archive: a.name.clone(),
                bus: state.spec.name.clone(),
                received,
                time,
                event: event.clone(),
            });
        }
    }
}

/// Drops the events past their archive's retention.
pub(crate) fn expire(inner: &Inner) {
    let now = Utc::now();
    let retention = |archive: &str| {
        inner
            .buses
            .iter()
            .flat_map(|b| &b.spec.archives)
            .find(|a| a.name == archive)
            .and_then(ArchiveSpec::retention)
    };
    if let Ok(mut kept) = inner.archive.lock() {
        kept.retain(|e| retention(&e.archive).is_none_or(|r| now - e.received < r));
    }
}

fn find_archive<'a>(
    inner: &'a Inner,
    name_or_arn: &str,
) -> Result<(&'a BusState, &'a ArchiveSpec), ApiError> {
    let name = name_or_arn
        .rsplit_once(":archive/")
        .map_or(name_or_arn, |(_, n)| n);
    inner
        .buses
        .iter()
        .find_map(|b| {
            b.spec
                .archives
                .iter()
                .find(|a| a.name == name)
                .map(|a| (b, a))
        })
        .ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("Archive {name} does not exist."),
            )
        })
}

fn invalid(param: &str, reason: &str) -> ApiError {
    ApiError::validation(format!("Parameter {param} is not valid. Reason: {reason}"))
}

/// Names of archives and replays: 1 to 64 of `[.\-_A-Za-z0-9]`.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// Starts (and, locally, completes) a replay.
pub(crate) fn start(inner: &Arc<Inner>, req: ReplayRequest) -> Result<Replay, ApiError> {
    if !valid_name(&req.name) {
        return Err(ApiError::validation(format!(
            "1 validation error detected: Value '{}' at 'replayName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+ and have length between 1 and 64",
            req.name
        )));
    }
    let (bus, archive) = find_archive(inner, &req.archive)?;
    let destination = validate(bus, &req)?;
    let filter: BTreeSet<&str> = req.filter_rules.iter().map(String::as_str).collect();
    expire(inner);
    register(inner, &req, archive, destination)?;
    let mut selected: Vec<ArchivedEvent> = inner
        .archive
        .lock()
        .map(|kept| {
            kept.iter()
                .filter(|e| e.archive == archive.name && e.time >= req.from && e.time < req.to)
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    selected.sort_by_key(|e| e.time);
    for e in &selected {
        let mut event = e.event.clone();
        if let Value::Object(o) = &mut event {
            o.insert("replay-name".into(), Value::String(req.name.clone()));
        }
        route_where(inner, &bus.spec.name, Arc::new(event), |rule| {
            filter.is_empty() || filter.contains(rule.arn.as_str())
        });
    }
    let mut replays = replays(inner)?;
    let replay = replays
        .iter_mut()
        .find(|r| r.name == req.name)
        .ok_or_else(|| ApiError::new("InternalException", "replay vanished"))?;
    replay.state = "COMPLETED";
    replay.ended = Some(Utc::now());
    replay.last_replayed = selected.last().map(|e| e.time);
    replay.events = selected.len();
    replay.state_reason = Some(format!("Replayed {} events.", selected.len()));
    Ok(replay.clone())
}

/// The request checked as EventBridge checks it: a destination on the archive's
/// own bus, a time range, rules of that bus (the name was checked first). Returns the
/// destination.
fn validate(bus: &BusState, req: &ReplayRequest) -> Result<String, ApiError> {
    let destination = req.destination.clone().unwrap_or_else(|| bus.arn.clone());
    if destination != bus.arn {
        return Err(invalid(
            "Destination.Arn",
            "Cross event bus replay is not permitted.",
        ));
    }
    if req.from >= req.to {
        return Err(invalid(
            "EventStartTime",
            "EventStartTime must be before EventEndTime.",
        ));
    }
    if let Some(unknown) = req
        .filter_rules
        .iter()
        .find(|arn| !bus.rules.iter().any(|r| r.arn == **arn))
    {
        return Err(invalid(
            "Destination.FilterArns",
            &format!(
                "Rule {unknown} does not exist on EventBus {}.",
                bus.spec.name
            ),
        ));
    }
    Ok(destination)
}

fn replays(inner: &Inner) -> Result<std::sync::MutexGuard<'_, Vec<Replay>>, ApiError> {
    inner
        .replays
        .lock()
        .map_err(|_| ApiError::new("InternalException", "replay registry is poisoned"))
}

/// Records the replay as running; a second replay of the same name is refused.
fn register(
    inner: &Inner,
    req: &ReplayRequest,
    archive: &ArchiveSpec,
    destination: String,
) -> Result<(), ApiError> {
    let mut replays = replays(inner)?;
    if replays.iter().any(|r| r.name == req.name) {
        return Err(ApiError::new(
            "ResourceAlreadyExistsException",
            format!("Replay {} already exists.", req.name),
        ));
    }
    replays.push(Replay {
        name: req.name.clone(),
        arn: replay_arn(inner, &req.name),
        description: req.description.clone(),
        archive_arn: archive_arn(inner, &archive.name),
        destination,
        filter_rules: req.filter_rules.clone(),
        state: "RUNNING",
        state_reason: None,
        from: req.from,
        to: req.to,
        started: Utc::now(),
        ended: None,
        last_replayed: None,
        events: 0,
    });
    Ok(())
}

fn epoch(t: DateTime<Utc>) -> Value {
    json!(t.timestamp_millis() as f64 / 1000.0)
}

fn archive_json(inner: &Inner, bus: &BusState, a: &ArchiveSpec, full: bool) -> Value {
    let (count, size) = inner
        .archive
        .lock()
        .map(|kept| {
            kept.iter()
                .filter(|e| e.archive == a.name)
                .fold((0u64, 0u64), |(n, s), e| {
                    (n + 1, s + e.event.to_string().len() as u64)
                })
        })
        .unwrap_or_default();
    let mut out = json!({
        "ArchiveName": a.name,
        "EventSourceArn": bus.arn,
        "State": "ENABLED",
        "RetentionDays": a.retention_days.unwrap_or(0),
        "SizeBytes": size,
        "EventCount": count,
        "CreationTime": epoch(inner.created),
    });
    if full {
        out["ArchiveArn"] = Value::String(archive_arn(inner, &a.name));
        if let Some(d) = &a.description {
            out["Description"] = Value::String(d.clone());
        }
        if let Some(p) = &a.pattern_json {
            out["EventPattern"] = Value::String(p.clone());
        }
    }
    out
}

pub(crate) fn list_archives_op(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    expire(inner);
    let prefix = opt_str(req, "NamePrefix")?.unwrap_or_default();
    let source = opt_str(req, "EventSourceArn")?;
    let state = opt_str(req, "State")?;
    let archives: Vec<Value> = inner
        .buses
        .iter()
        .filter(|b| source.is_none_or(|s| s == b.arn))
        .flat_map(|b| b.spec.archives.iter().map(move |a| (b, a)))
        .filter(|(_, a)| a.name.starts_with(prefix) && state.is_none_or(|s| s == "ENABLED"))
        .map(|(b, a)| archive_json(inner, b, a, false))
        .collect();
    paged("Archives", archives, req)
}

pub(crate) fn describe_archive_op(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    expire(inner);
    let (bus, archive) = find_archive(inner, req_str(req, "ArchiveName")?)?;
    Ok(archive_json(inner, bus, archive, true))
}

pub(crate) fn start_replay_op(inner: &Arc<Inner>, req: &Value) -> Result<Value, ApiError> {
    let time =
        |key: &str| parse_time(req.get(key).unwrap_or(&Value::Null))?.ok_or_else(|| missing(key));
    let destination = match req.get("Destination") {
        None | Some(Value::Null) => return Err(missing("Destination")),
        Some(d) => d,
    };
    let filter_rules = match destination.get("FilterArns") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::serialization("FilterArns must be strings"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::serialization("FilterArns must be a list")),
    };
    let request = ReplayRequest {
        name: req_str(req, "ReplayName")?.to_owned(),
        description: opt_str(req, "Description")?.map(str::to_owned),
        archive: req_str(req, "EventSourceArn")?.to_owned(),
        from: time("EventStartTime")?,
        to: time("EventEndTime")?,
        destination: Some(req_str(destination, "Arn")?.to_owned()),
        filter_rules,
    };
    let r = start(inner, request)?;
    Ok(json!({
        "ReplayArn": r.arn,
        "State": r.state,
        "StateReason": r.state_reason,
        "ReplayStartTime": epoch(r.started),
    }))
}

fn replay_json(r: &Replay, full: bool) -> Value {
    let mut out = json!({
        "ReplayName": r.name,
        "EventSourceArn": r.archive_arn,
        "State": r.state,
        "EventStartTime": epoch(r.from),
        "EventEndTime": epoch(r.to),
        "ReplayStartTime": epoch(r.started),
    });
    let o = out.as_object_mut().expect("an object");
    if let Some(s) = &r.state_reason {
        o.insert("StateReason".into(), Value::String(s.clone()));
    }
    if let Some(t) = r.last_replayed {
        o.insert("EventLastReplayedTime".into(), epoch(t));
    }
    if let Some(t) = r.ended {
        o.insert("ReplayEndTime".into(), epoch(t));
    }
    if full {
        o.insert("ReplayArn".into(), Value::String(r.arn.clone()));
        if let Some(d) = &r.description {
            o.insert("Description".into(), Value::String(d.clone()));
        }
        let mut dest = json!({"Arn": r.destination});
        if !r.filter_rules.is_empty() {
            dest["FilterArns"] = json!(r.filter_rules);
        }
        o.insert("Destination".into(), dest);
    }
    out
}

fn find_replay(inner: &Inner, name: &str) -> Result<Replay, ApiError> {
    inner
        .replays
        .lock()
        .ok()
        .and_then(|rs| rs.iter().find(|r| r.name == name).cloned())
        .ok_or_else(|| {
            ApiError::new(
                "ResourceNotFoundException",
                format!("Replay {name} does not exist."),
            )
        })
}

pub(crate) fn describe_replay_op(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let replay = find_replay(inner, req_str(req, "ReplayName")?)?;
    Ok(replay_json(&replay, true))
}

pub(crate) fn list_replays_op(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let prefix = opt_str(req, "NamePrefix")?.unwrap_or_default();
    let source = opt_str(req, "EventSourceArn")?;
    let state = opt_str(req, "State")?;
    let replays: Vec<Value> = inner
        .replays
        .lock()
        .map(|rs| {
            rs.iter()
                .filter(|r| {
                    r.name.starts_with(prefix)
                        && source.is_none_or(|s| s == r.archive_arn)
                        && state.is_none_or(|s| s == r.state)
                })
                .map(|r| replay_json(r, false))
                .collect()
        })
        .unwrap_or_default();
    paged("Replays", replays, req)
}

/// Local replays complete before StartReplay answers; one still routing its events is
/// not cancelled either (it has handed most of them to the rules already).
pub(crate) fn cancel_replay_op(inner: &Inner, req: &Value) -> Result<Value, ApiError> {
    let replay = find_replay(inner, req_str(req, "ReplayName")?)?;
    Err(ApiError::new(
        "IllegalStatusException",
        format!(
            "Replay {} is in state {} and cannot be cancelled.",
            replay.name, replay.state
        ),
    ))
}
