//! Expectations and where their answers are read: the tables, the queues, SES.

use super::api::DemoError;
use crate::client;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeMap;

/// One expectation and what was found.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub what: String,
    pub expected: String,
    pub actual: String,
}

impl Check {
    pub fn ok(&self) -> bool {
        self.expected == self.actual
    }
}

/// Email records (`MESSAGE#` items) per template.
pub fn templates_of(
    messages: &[std::collections::HashMap<String, AttributeValue>],
) -> BTreeMap<String, u64> {
    let mut templates = BTreeMap::new();
    for m in messages {
        if let Some(AttributeValue::S(t)) = m.get("template") {
            *templates.entry(t.clone()).or_default() += 1;
        }
    }
    templates
}

/// Every item of a table whose `pk` starts with `prefix`.
pub async fn scan_prefix(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    prefix: &str,
) -> Result<Vec<std::collections::HashMap<String, AttributeValue>>, DemoError> {
    let mut out = vec![];
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| {
                DemoError::Read(
                    table.into(),
                    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        out.extend(page.items.unwrap_or_default());
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(out);
        }
    }
}

pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, DemoError> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .map_err(|e| {
            DemoError::Read(
                url.into(),
                aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
            )
        })?;
    Ok(out
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .cloned()
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Emails moto's SES accepted: SES's own `GetSendQuota` (`SentLast24Hours`).
pub async fn ses_sent(moto: &str) -> Result<u64, DemoError> {
    let auth = "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/ses/aws4_request, SignedHeaders=host, Signature=0";
    let r = client::request(
        "POST",
        &format!("{moto}/"),
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", auth),
        ],
        Some(b"Action=GetSendQuota&Version=2010-12-01"),
    )
    .await?;
    let text = r.text();
    let sent = text
        .split("<SentLast24Hours>")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .ok_or_else(|| DemoError::Read("SES send quota".into(), text.clone()))?;
    Ok(sent as u64)
}
