//! One batch through the function: invocation, retries, batch item failures, bisect, the
//! maximum record age and the on-failure destination, and the log line of each attempt.

use super::{Mapping, Rec, add};
use crate::aws::function_arn;
use crate::lambda::InvokeError;
use crate::log::write_line;
use chrono::{SecondsFormat, Utc};
use serde_json::{Value, json};

impl Mapping {
    /// Invokes the function with one batch until it succeeds, retries are exhausted (the
    /// batch goes to the on-failure queue) or bisecting isolates the failing records.
    pub(super) async fn process(&self, i: usize, batch: Vec<Rec>) {
        let c = &self.shared.counters;
        // (records, retries so far); splitting a batch does not use up its retries.
        let mut work = vec![(batch, 0u32)];
        while let Some((mut recs, retries)) = work.pop() {
            // Records are in sequence order, so the expired ones are a prefix.
            let expired = recs.iter().take_while(|r| self.too_old(r)).count();
            if expired > 0 {
                let rest = recs.split_off(expired);
                add(&c.batches_failed, 1);
                let outcome = self
                    .on_failure(i, &recs, retries, "RecordAgeExceeded")
                    .await;
                self.log(
                    i,
                    &recs,
                    retries,
                    &format!("record age exceeded; {outcome}"),
                );
                recs = rest;
            }
            if recs.is_empty() {
                continue;
            }
            add(&c.invocations, 1);
            let payload =
                json!({"Records": recs.iter().map(|r| r.json.clone()).collect::<Vec<_>>()});
            let result = self
                .shared
                .invoker
                .invoke(&self.spec.function, payload)
                .await;
            let (failed_from, error) = match result {
                Ok(resp) if self.spec.report_batch_item_failures => {
                    match first_failure(&resp, &recs) {
                        Ok(None) => (None, None),
                        Ok(Some(idx)) => (Some(idx), Some("batch item failures".to_owned())),
                        Err(why) => (Some(0), Some(why)),
                    }
                }
                Ok(_) => (None, None),
                Err(e) => {
                    if self.spec.bisect_on_error && recs.len() > 1 {
                        add(&c.bisected, 1);
                        self.log(i, &recs, retries, &format!("error: {e}; bisecting"));
                        let mut left = recs;
                        let right = left.split_off(left.len() / 2);
                        work.push((right, retries));
                        work.push((left, retries));
                        continue;
                    }
                    (Some(0), Some(describe(&e)))
                }
            };
            let Some(idx) = failed_from else {
                add(&c.records_delivered, recs.len() as u64);
                self.log(i, &recs, retries, "ok");
                continue;
            };
            add(&c.records_delivered, idx as u64);
            let rest = recs[idx..].to_vec();
            let error = error.unwrap_or_default();
            if retries >= self.spec.max_retry_attempts {
                add(&c.batches_failed, 1);
                let outcome = self
                    .on_failure(
                        i,
                        &rest,
                        retries.saturating_add(1),
                        "RetryAttemptsExhausted",
                    )
                    .await;
                self.log(i, &rest, retries, &format!("error: {error}; {outcome}"));
                continue;
            }
            add(&c.retried, 1);
            self.log(i, &recs, retries, &format!("error: {error}; retrying"));
            if !self.sleep(self.shared.options.retry_delay).await {
                return;
            }
            work.push((rest, retries.saturating_add(1)));
        }
    }

    /// Whether `r` is past the mapping's maximum record age.
    fn too_old(&self, r: &Rec) -> bool {
        let Some(max) = self.spec.max_record_age else {
            return false;
        };
        let created = r
            .json
            .pointer("/dynamodb/ApproximateCreationDateTime")
            .and_then(Value::as_f64);
        let now = Utc::now().timestamp_millis() as f64 / 1000.0;
        created.is_some_and(|t| now - t > max.as_secs_f64())
    }

    /// Sends the failed batch's description to the on-failure queue, as Lambda does for
    /// stream sources; `condition` says why (`RetryAttemptsExhausted`, `RecordAgeExceeded`).
    async fn on_failure(&self, i: usize, recs: &[Rec], invokes: u32, condition: &str) -> String {
        let Some(queue) = &self.spec.on_failure_queue_url else {
            return "dropped (no on-failure destination)".to_owned();
        };
        let body = batch_info(
            &self.function_arn(),
            &self.shards[i].id,
            &self.stream_arn,
            recs,
            invokes,
            condition,
        );
        match crate::sqs::send(&self.shared.sqs, queue, body.to_string(), &[]).await {
            Ok(()) => format!("sent to {queue}"),
            Err(e) => format!("on-failure send failed: {e}"),
        }
    }

    fn function_arn(&self) -> String {
        function_arn(
            &self.shared.options.region,
            &self.shared.options.account_id,
            &self.spec.function,
        )
    }

    fn log(&self, i: usize, recs: &[Rec], retries: u32, outcome: &str) {
        let first = recs.first().map(|r| r.seq.as_str()).unwrap_or_default();
        let last = recs.last().map(|r| r.seq.as_str()).unwrap_or_default();
        let shard = &self.shards[i].id;
        write_line(
            self.shared.options.log,
            || {
                format!(
                    "stream {} -> {} shard={shard} records={} seq={first}..{last} attempt#{} {outcome}",
                    self.spec.table_name,
                    self.spec.function,
                    recs.len(),
                    retries.saturating_add(1)
                )
            },
            || {
                json!({
                    "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
                    "component": "streams",
                    "table": self.spec.table_name,
                    "target": self.spec.function,
                    "shard": shard,
                    "records": recs.len(),
                    "firstSequenceNumber": first,
                    "lastSequenceNumber": last,
                    "attempt": retries.saturating_add(1),
                    "outcome": outcome,
                })
            },
        );
    }
}

fn describe(e: &InvokeError) -> String {
    e.to_string()
}

/// The index of the lowest-sequence failed record of a `batchItemFailures` response;
/// `Err` when the response is malformed (Lambda then treats the whole batch as failed).
pub(super) fn first_failure(resp: &Value, recs: &[Rec]) -> Result<Option<usize>, String> {
    let failures = match resp.get("batchItemFailures") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(a)) => a,
        Some(_) => return Err("batchItemFailures is not a list".to_owned()),
    };
    let mut lowest: Option<usize> = None;
    for f in failures {
        let Some(id) = f.get("itemIdentifier").and_then(Value::as_str) else {
            return Err("a batch item failure has no itemIdentifier".to_owned());
        };
        let Some(idx) = recs.iter().position(|r| r.seq == id) else {
            return Err(format!("itemIdentifier {id} is not in the batch"));
        };
        lowest = Some(lowest.map_or(idx, |l| l.min(idx)));
    }
    Ok(lowest)
}

/// Lambda's on-failure record for a stream batch.
pub(super) fn batch_info(
    function_arn: &str,
    shard_id: &str,
    stream_arn: &str,
    recs: &[Rec],
    invokes: u32,
    condition: &str,
) -> Value {
    let arrival = |r: Option<&Rec>| {
        r.and_then(|r| r.json.pointer("/dynamodb/ApproximateCreationDateTime"))
            .and_then(Value::as_f64)
            .and_then(|s| chrono::DateTime::from_timestamp(s as i64, 0))
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
    };
    json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invokes,
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "version": "1.0",
        "timestamp": Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": recs.first().map(|r| r.seq.clone()),
            "endSequenceNumber": recs.last().map(|r| r.seq.clone()),
            "approximateArrivalOfFirstRecord": arrival(recs.first()),
            "approximateArrivalOfLastRecord": arrival(recs.last()),
            "batchSize": recs.len(),
            "streamArn": stream_arn,
        },
    })
}
