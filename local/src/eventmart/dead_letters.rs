//! The messages in the template's queues (rule dead-letter queues and on-failure
//! destinations), and their redrive.

use super::api::DemoError;
use crate::stack::LocalStack;
use serde_json::Value;

#[derive(Debug)]
pub struct DeadLetter {
    pub queue: String,
    pub reason: String,
    /// The function the message was for (the template's logical id).
    pub function: String,
    /// The event it carries (null when it carries none, e.g. a stream batch's pointer).
    pub event: Value,
    pub body: String,
}

/// Every message now in the template's queues, received and deleted.
pub async fn dead_letters(stack: &LocalStack) -> Result<Vec<DeadLetter>, DemoError> {
    let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
    let mut out = vec![];
    for q in &stack.model.queues {
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&q.url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| {
                    DemoError::Read(
                        q.url.clone(),
                        aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
                    )
                })?;
            let msgs = got.messages.unwrap_or_default();
            if msgs.is_empty() {
                break;
            }
            for m in msgs {
                let attrs = m.message_attributes.unwrap_or_default();
                let body_text = m.body.unwrap_or_default();
                let body: Value = serde_json::from_str(&body_text).unwrap_or(Value::Null);
                let reason = attrs
                    .get("ERROR_MESSAGE")
                    .and_then(|v| v.string_value.clone())
                    .or_else(|| {
                        body["responsePayload"]["errorMessage"]
                            .as_str()
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| "(no reason given)".into());
                // A rule's DLQ holds the event and names the target; an on-failure
                // destination wraps the event with the function's ARN.
                let (function, event) =
                    match attrs.get("TARGET_ARN").and_then(|v| v.string_value.clone()) {
                        Some(arn) => (arn, body.clone()),
                        None => (
                            body["requestContext"]["functionArn"]
                                .as_str()
                                .unwrap_or_default()
                                .trim_end_matches(":$LATEST")
                                .to_owned(),
                            body["requestPayload"].clone(),
                        ),
                    };
                out.push(DeadLetter {
                    queue: q.logical_id.clone(),
                    reason,
                    function: function.rsplit(':').next().unwrap_or_default().to_owned(),
                    event,
                    body: body_text,
                });
                if let Some(h) = m.receipt_handle {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&q.url)
                        .receipt_handle(h)
                        .send()
                        .await;
                }
            }
        }
    }
    Ok(out)
}

/// Takes every message out of the dead-letter queues and invokes its function with its
/// event again (up to 5 times), as an operator's redrive does. Returns (redriven, not).
pub async fn redrive(stack: &LocalStack) -> Result<(Vec<DeadLetter>, Vec<DeadLetter>), DemoError> {
    let mut done = vec![];
    let mut failed = vec![];
    for d in dead_letters(stack).await? {
        let mut ok = false;
        if !d.event.is_null() && !d.function.is_empty() {
            for _ in 0..5 {
                if stack
                    .lambda
                    .invoke(&d.function, d.event.clone())
                    .await
                    .is_ok()
                {
                    ok = true;
                    break;
                }
            }
        }
        if ok { done.push(d) } else { failed.push(d) }
    }
    Ok((done, failed))
}
