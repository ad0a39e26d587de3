//! Messages to the template's SQS queues (in moto): the dead-letter queues and on-failure
//! destinations of the bus and of the stream pollers.

use aws_sdk_sqs::types::MessageAttributeValue;

/// Sends one message to `queue` with string message attributes.
pub async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    body: String,
    attrs: &[(&str, &str)],
) -> Result<(), String> {
    let mut req = sqs.send_message().queue_url(queue).message_body(body);
    for (name, value) in attrs {
        let v = MessageAttributeValue::builder()
            .data_type("String")
            // SQS rejects empty string attributes.
            .string_value(if value.is_empty() { "-" } else { value })
            .build()
            .map_err(|e| e.to_string())?;
        req = req.message_attributes(*name, v);
    }
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
}
