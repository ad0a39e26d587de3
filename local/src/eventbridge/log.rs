//! One line per delivery attempt. Lines go to stderr (one `eprintln!` each, so lines
//! of concurrent deliveries never interleave) and are also kept in memory for
//! [`super::Bus::delivery_log`].

use crate::log::write_line;
use chrono::{SecondsFormat, Utc};
use serde_json::json;

/// Which layer made the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// EventBridge handing the event to Lambda (retried by the rule's RetryPolicy).
    Delivery,
    /// Lambda running the function asynchronously (retried by EventInvokeConfig).
    Invoke,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Delivery => "delivery",
            Stage::Invoke => "invoke",
        }
    }
}

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Failed; will be retried.
    Retrying(String),
    /// Failed for good; sent to this queue URL.
    DeadLettered {
        queue: String,
        error: String,
    },
    /// Failed for good, with no queue to send it to (or the send failed).
    Dropped(String),
}

/// One logged delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The EventBridge envelope's `id`.
    pub event_id: String,
    pub detail_type: String,
    pub rule: String,
    /// The target function.
    pub target: String,
    pub stage: Stage,
    /// 1 for the first attempt of its stage.
    pub attempt: u32,
    pub outcome: Outcome,
    /// The replay's name for replayed events.
    pub replay: Option<String>,
}

impl DeliveryRecord {
    fn outcome_text(&self) -> (&'static str, Option<String>) {
        match &self.outcome {
            Outcome::Ok => ("ok", None),
            Outcome::Retrying(e) => ("error", Some(e.clone())),
            Outcome::DeadLettered { queue, error } => {
                ("dead-lettered", Some(format!("{error} -> {queue}")))
            }
            Outcome::Dropped(e) => ("dropped", Some(e.clone())),
        }
    }

    /// The human-readable line.
    pub fn human(&self) -> String {
        let (outcome, detail) = self.outcome_text();
        let replay = self
            .replay
            .as_deref()
            .map(|r| format!(" replay={r}"))
            .unwrap_or_default();
        let detail = detail.map(|d| format!(": {d}")).unwrap_or_default();
        format!(
            "bus {} {} rule={} target={} {}#{}{replay} {outcome}{detail}",
            self.detail_type,
            self.event_id,
            self.rule,
            self.target,
            self.stage.as_str(),
            self.attempt
        )
    }

    /// The JSON line.
    pub fn json(&self) -> serde_json::Value {
        let (outcome, detail) = self.outcome_text();
        json!({
            "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            "component": "bus",
            "eventId": self.event_id,
            "detailType": self.detail_type,
            "rule": self.rule,
            "target": self.target,
            "stage": self.stage.as_str(),
            "attempt": self.attempt,
            "outcome": outcome,
            "error": detail,
            "replayName": self.replay,
        })
    }
}

/// Most records kept in memory; older ones are discarded.
const KEEP: usize = 100_000;

pub(crate) fn emit(inner: &super::Inner, record: DeliveryRecord) {
    write_line(inner.options.log, || record.human(), || record.json());
    if let Ok(mut r) = inner.records.lock() {
        if r.len() >= KEEP {
            r.drain(..KEEP / 10);
        }
        r.push(record);
    }
}
