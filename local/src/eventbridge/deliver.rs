//! Routing and asynchronous delivery: EventBridge's retry policy and dead-letter queue,
//! then Lambda's async retries and on-failure destination.

use super::log::{DeliveryRecord, Outcome, Stage, emit};
use super::transform::TargetInput;
use super::{AtomicCounters, Destination, Inner, PutRecordError, Rule};
use crate::lambda::InvokeError;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Matches `event` against every rule of `bus` and starts one delivery per matched rule
/// (several under the duplicates chaos switch). Never blocks: deliveries run as tasks,
/// counted in `pending` before this returns so that `idle` sees them.
pub(crate) fn route(inner: &Arc<Inner>, bus: &str, event: Arc<Value>) {
    route_where(inner, bus, event, |_| true);
}

/// [`route`] to the matched rules that `keep` accepts (a replay's `FilterArns`).
pub(crate) fn route_where(
    inner: &Arc<Inner>,
    bus: &str,
    event: Arc<Value>,
    keep: impl Fn(&Rule) -> bool,
) {
    let Some(state) = inner.bus(bus) else { return };
    let chaos = &inner.options.chaos;
    let mut matched = Vec::new();
    state.matcher.matches(&event, &mut matched);
    for rule in matched
        .iter()
        .filter_map(|&i| state.rules.get(i))
        .filter(|r| r.spec.enabled && keep(r))
    {
        let copies = if chaos.duplicate_fraction > 0.0 && fastrand::f64() < chaos.duplicate_fraction
        {
            fastrand::u32(2..=chaos.max_copies.clamp(2, 10))
        } else {
            1
        };
        for _ in 0..copies {
            AtomicCounters::bump(&inner.counters.deliveries);
            inner.pending.send_modify(|n| *n += 1);
            let (inner, rule, event) = (inner.clone(), rule.clone(), event.clone());
            tokio::spawn(async move {
                // Decrement even if the delivery panics or is cancelled.
                let _guard = PendingGuard(inner.clone());
                deliver(&inner, &rule, &event).await;
            });
        }
    }
}

struct PendingGuard(Arc<Inner>);

impl Drop for PendingGuard {
    fn drop(&mut self) {
        self.0.pending.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Sleeps, unless the bus stops first (then returns false).
async fn sleep(inner: &Inner, d: Duration) -> bool {
    let mut stop = inner.shutdown.subscribe();
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

fn text(event: &Value, key: &str) -> String {
    event
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// How each step of one delivery is recorded: (stage, attempt, outcome) -> record.
type Recorder<'a> = dyn Fn(Stage, u32, Outcome) -> DeliveryRecord + Sync + 'a;

async fn deliver(inner: &Inner, rule: &Rule, event: &Value) {
    let chaos = &inner.options.chaos;
    // Reordering: each delivery is held for a random time within the window, so deliveries
    // made close together are released in random order.
    if !chaos.reorder_window.is_zero() {
        let hold = chaos.reorder_window.mul_f64(fastrand::f64());
        if !sleep(inner, hold).await {
            return;
        }
    }
    let spec = &rule.spec;
    let record = |stage, attempt, outcome| DeliveryRecord {
        event_id: text(event, "id"),
        detail_type: text(event, "detail-type"),
        rule: spec.name.clone(),
        target: spec.target.destination.name().to_owned(),
        stage,
        attempt,
        outcome,
        replay: event
            .get("replay-name")
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    // The bus keeps no acceptance time per event: the delivery's start stands in for
    // `<aws.events.event.ingestion-time>`.
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let input = match &spec.target.input {
        TargetInput::Whole => None,
        other => match other.apply(event, &rule.arn, &now) {
            Ok(text) => Some(text),
            Err(e) => {
                let failure = Failure::new("InputTransformationFailed", e.to_string());
                delivery_failed(inner, rule, event, &failure, 1, &record).await;
                return;
            }
        },
    };
    match &spec.target.destination {
        Destination::Lambda(function) => {
            // A Lambda payload is JSON: a text template that is not JSON cannot be one.
            let payload = match input.as_deref().map(serde_json::from_str::<Value>) {
                None => event.clone(),
                Some(Ok(payload)) => payload,
                Some(Err(e)) => {
                    let failure = Failure::new(
                        "InvalidRequestContentException",
                        format!(
                            "the target input is not JSON, which a Lambda payload must be: {e}"
                        ),
                    );
                    delivery_failed(inner, rule, event, &failure, 1, &record).await;
                    return;
                }
            };
            let target = LambdaTarget {
                function,
                payload: &payload,
            };
            if let Some((first, invoked_at)) =
                hand_to_lambda(inner, rule, event, &target, &record).await
            {
                invoke_async(inner, rule, &target, first, invoked_at, &record).await;
            }
        }
        Destination::Firehose(stream) => {
            let data = input.unwrap_or_else(|| event.to_string()).into_bytes();
            put_to_stream(inner, rule, event, stream, data, &record).await;
        }
    }
}

/// What a Lambda target is invoked with.
struct LambdaTarget<'a> {
    function: &'a str,
    /// The event, or the target input made from it.
    payload: &'a Value,
}

/// Why a delivery failed, as its dead-letter message says it (`ERROR_CODE`,
/// `ERROR_MESSAGE`).
struct Failure {
    code: String,
    message: String,
}

impl Failure {
    fn new(code: &str, message: String) -> Failure {
        Failure {
            code: code.to_owned(),
            message,
        }
    }
}

/// EventBridge: put the record on a Firehose stream, retried per the target's retry
/// policy, then dead-lettered.
async fn put_to_stream(
    inner: &Inner,
    rule: &Rule,
    event: &Value,
    stream: &str,
    data: Vec<u8>,
    record: &Recorder<'_>,
) {
    let retry = &rule.spec.target.retry;
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let result = match &inner.options.streams {
            Some(sink) => sink.put_record(stream, data.clone()).await,
            None => Err(PutRecordError::NoSuchStream(stream.to_owned())),
        };
        let error = match result {
            Ok(()) => {
                AtomicCounters::bump(&inner.counters.delivered);
                emit(inner, record(Stage::Delivery, attempt, Outcome::Ok));
                return;
            }
            Err(e) => e,
        };
        let delay = inner.options.timing.backoff(attempt - 1);
        if attempt > retry.max_attempts || start.elapsed() + delay > retry.max_event_age {
            let failure = Failure::new(error.error_code(), error.to_string());
            delivery_failed(inner, rule, event, &failure, attempt, record).await;
            return;
        }
        emit(
            inner,
            record(
                Stage::Delivery,
                attempt,
                Outcome::Retrying(error.to_string()),
            ),
        );
        AtomicCounters::bump(&inner.counters.retried);
        if !sleep(inner, delay).await {
            return;
        }
    }
}

/// EventBridge: hand the event to Lambda. Only "the function cannot take it" is a
/// delivery failure; anything else means Lambda accepted and ran it. Returns the first
/// run's result and when it started, or `None` when the delivery ended here.
async fn hand_to_lambda(
    inner: &Inner,
    rule: &Rule,
    event: &Value,
    target: &LambdaTarget<'_>,
    record: &Recorder<'_>,
) -> Option<(Result<Value, InvokeError>, Instant)> {
    let spec = &rule.spec;
    let start = Instant::now();
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let invoked_at = Instant::now();
        match inner
            .invoker
            .invoke(target.function, target.payload.clone())
            .await
        {
            Err(e @ InvokeError::NoSuchFunction(_)) => {
                let retry = &spec.target.retry;
                let delay = inner.options.timing.backoff(attempt - 1);
                if attempt > retry.max_attempts || start.elapsed() + delay > retry.max_event_age {
                    let failure = Failure::new(e.error_type(), e.to_string());
                    delivery_failed(inner, rule, event, &failure, attempt, record).await;
                    return None;
                }
                emit(
                    inner,
                    record(Stage::Delivery, attempt, Outcome::Retrying(e.to_string())),
                );
                AtomicCounters::bump(&inner.counters.retried);
                if !sleep(inner, delay).await {
                    return None;
                }
            }
            other => return Some((other, invoked_at)),
        }
    }
}

/// Lambda async invoke: retries function errors, then the on-failure destination.
async fn invoke_async(
    inner: &Inner,
    rule: &Rule,
    target: &LambdaTarget<'_>,
    first: Result<Value, InvokeError>,
    mut invoked_at: Instant,
    record: &Recorder<'_>,
) {
    let spec = &rule.spec;
    let cfg = &spec.async_invoke;
    let accepted = Instant::now();
    let mut result = first;
    let mut invokes = 1u32;
    loop {
        let error = match result {
            Ok(_) => {
                AtomicCounters::bump(&inner.counters.delivered);
                emit(inner, record(Stage::Invoke, invokes, Outcome::Ok));
                return;
            }
            Err(e) => e,
        };
        let condition = if invokes > cfg.max_retry_attempts {
            Some("RetriesExhausted")
        } else if accepted.elapsed() + inner.options.timing.async_delay(invokes) > cfg.max_event_age
        {
            Some("EventAgeExceeded")
        } else {
            None
        };
        if let Some(condition) = condition {
            let outcome =
                invocation_failed(inner, rule, target.payload, &error, condition, invokes).await;
            emit(inner, record(Stage::Invoke, invokes, outcome));
            return;
        }
        emit(
            inner,
            record(Stage::Invoke, invokes, Outcome::Retrying(error.to_string())),
        );
        AtomicCounters::bump(&inner.counters.retried);
        // AWS's retry delays (1 and 2 minutes) outlast the failed run, so a retry never
        // meets that run's unexpired state: an idempotency claim held until its deadline,
        // by it or (for a duplicate told "in progress") by a copy that was killed.
        // Scaled-down local delays keep that order by waiting out the function's timeout.
        let delay = inner
            .options
            .timing
            .async_delay(invokes)
            .max(cfg.function_timeout.saturating_sub(invoked_at.elapsed()));
        if !sleep(inner, delay).await {
            return;
        }
        invokes += 1;
        invoked_at = Instant::now();
        result = inner
            .invoker
            .invoke(target.function, target.payload.clone())
            .await;
    }
}

/// Lambda gave up (`condition`): the event goes to the on-failure destination, if any.
async fn invocation_failed(
    inner: &Inner,
    rule: &Rule,
    event: &Value,
    error: &InvokeError,
    condition: &str,
    invokes: u32,
) -> Outcome {
    match &rule.spec.async_invoke.on_failure_queue_url {
        Some(queue) => {
            let body = destination_record(rule, event, error, condition, invokes);
            match send(inner, queue, body.to_string(), &[]).await {
                Ok(()) => {
                    AtomicCounters::bump(&inner.counters.dead_lettered);
                    Outcome::DeadLettered {
                        queue: queue.clone(),
                        error: format!("{condition}: {error}"),
                    }
                }
                Err(send_error) => {
                    AtomicCounters::bump(&inner.counters.dead_letter_errors);
                    Outcome::Dropped(format!(
                        "{condition}: {error}; on-failure send failed: {send_error}"
                    ))
                }
            }
        }
        None => {
            AtomicCounters::bump(&inner.counters.dropped);
            Outcome::Dropped(format!("{condition}: {error}"))
        }
    }
}

/// EventBridge gave up: the event goes to the target's dead-letter queue with the reason
/// in message attributes, as EventBridge writes it.
async fn delivery_failed(
    inner: &Inner,
    rule: &Rule,
    event: &Value,
    error: &Failure,
    attempt: u32,
    record: &Recorder<'_>,
) {
    let retries = attempt.saturating_sub(1).to_string();
    let outcome = match &rule.spec.target.dead_letter_queue_url {
        Some(queue) => {
            let message = error.message.clone();
            let attrs = [
                ("RULE_ARN", rule.arn.as_str()),
                ("TARGET_ARN", rule.target_arn.as_str()),
                ("ERROR_CODE", error.code.as_str()),
                ("ERROR_MESSAGE", message.as_str()),
                ("RETRY_ATTEMPTS", retries.as_str()),
            ];
            match send(inner, queue, event.to_string(), &attrs).await {
                Ok(()) => {
                    AtomicCounters::bump(&inner.counters.dead_lettered);
                    Outcome::DeadLettered {
                        queue: queue.clone(),
                        error: message,
                    }
                }
                Err(e) => {
                    AtomicCounters::bump(&inner.counters.dead_letter_errors);
                    Outcome::Dropped(format!("{}; dead-letter send failed: {e}", error.message))
                }
            }
        }
        None => {
            AtomicCounters::bump(&inner.counters.dropped);
            Outcome::Dropped(error.message.clone())
        }
    };
    emit(inner, record(Stage::Delivery, attempt, outcome));
}

/// The record Lambda sends to an asynchronous invocation's on-failure destination.
pub(crate) fn destination_record(
    rule: &Rule,
    event: &Value,
    error: &InvokeError,
    condition: &str,
    invokes: u32,
) -> Value {
    let message = match error {
        InvokeError::Function { message, .. } => message.clone(),
        other => other.to_string(),
    };
    json!({
        "version": "1.0",
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": format!("{}:$LATEST", rule.target_arn),
            "condition": condition,
            "approximateInvokeCount": invokes,
        },
        "requestPayload": event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorType": error.error_type(),
            "errorMessage": message,
        },
    })
}

/// Sends one SQS message with string attributes.
pub(crate) async fn send(
    inner: &Inner,
    queue: &str,
    body: String,
    attrs: &[(&str, &str)],
) -> Result<(), String> {
    crate::sqs::send(&inner.sqs, queue, body, attrs).await
}
