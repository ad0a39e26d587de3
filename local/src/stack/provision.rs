//! The template's tables (with streams and TTL), queues, buckets and SES identities, created in
//! moto (or the server `--aws` names) before anything starts.

use super::StackError;
use crate::aws::REGION;
use crate::template::{Stack, Table};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};

/// The SDK configuration for talking to moto as the stack does.
pub async fn sdk_config(moto: &str) -> aws_config::SdkConfig {
    let creds = aws_sdk_sqs::config::Credentials::new("local", "local", None, None, "local-stack");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(eventmart_shared::aws::http_client())
        .region(aws_config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(moto)
        .load()
        .await
}

/// Creates the template's tables (with streams and TTL), queues and SES identities in moto.
pub(super) async fn provision(
    sdk: &aws_config::SdkConfig,
    model: &Stack,
) -> Result<(), StackError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    for t in &model.tables {
        create_table(&dynamodb, t)
            .await
            .map_err(|e| StackError::Provision {
                resource: t.logical_id.clone(),
                message: e,
            })?;
    }
    create_queues(&aws_sdk_sqs::Client::new(sdk), model).await?;
    create_buckets(&s3_client(sdk), model).await?;
    verify_senders(&aws_sdk_sesv2::Client::new(sdk), model).await
}

/// An S3 client for local servers: path-style, since `<bucket>.127.0.0.1` does not resolve.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(sdk)
            .force_path_style(true)
            .build(),
    )
}

/// The template's buckets, empty.
async fn create_buckets(s3: &aws_sdk_s3::Client, model: &Stack) -> Result<(), StackError> {
    for b in &model.buckets {
        s3.create_bucket()
            .bucket(&b.name)
            .send()
            .await
            .map_err(|e| StackError::Provision {
                resource: b.logical_id.clone(),
                message: aws_sdk_s3::error::DisplayErrorContext(e).to_string(),
            })?;
    }
    Ok(())
}

/// One table with its keys, its stream and its TTL, as the template declares it.
async fn create_table(dynamodb: &aws_sdk_dynamodb::Client, t: &Table) -> Result<(), String> {
    let mut req = dynamodb
        .create_table()
        .table_name(&t.name)
        .billing_mode(BillingMode::PayPerRequest);
    for a in &t.attribute_definitions {
        let def = AttributeDefinition::builder()
            .attribute_name(&a.attribute_name)
            .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
            .build()
            .map_err(|e| e.to_string())?;
        req = req.attribute_definitions(def);
    }
    for k in &t.key_schema {
        let key = KeySchemaElement::builder()
            .attribute_name(&k.attribute_name)
            .key_type(KeyType::from(k.key_type.as_str()))
            .build()
            .map_err(|e| e.to_string())?;
        req = req.key_schema(key);
    }
    if let Some(view) = t.stream_view_type {
        let spec = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::from(view.as_str()))
            .build()
            .map_err(|e| e.to_string())?;
        req = req.stream_specification(spec);
    }
    match req.send().await {
        Ok(_) => {}
        // Left by an earlier run on a server the stack was pointed at (`--aws`): kept with
        // its items, as a deployed stack keeps its tables across updates.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(sdk_error(e)),
    }
    if let Some(attr) = &t.ttl_attribute {
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name(attr)
            .enabled(true)
            .build()
            .map_err(|e| e.to_string())?;
        dynamodb
            .update_time_to_live()
            .table_name(&t.name)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(sdk_error)?;
    }
    Ok(())
}

/// The template's queues, dead-letter queues first: a redrive policy names its
/// dead-letter queue, which must exist.
async fn create_queues(sqs: &aws_sdk_sqs::Client, model: &Stack) -> Result<(), StackError> {
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
            .map_err(|e| StackError::Provision {
                resource: q.logical_id.clone(),
                message: sdk_error(e),
            })?;
    }
    Ok(())
}

/// Parameters holding an email address are senders: verified as SES identities.
async fn verify_senders(ses: &aws_sdk_sesv2::Client, model: &Stack) -> Result<(), StackError> {
    for (name, value) in &model.parameters {
        if value.contains('@') && !value.contains(char::is_whitespace) {
            ses.create_email_identity()
                .email_identity(value)
                .send()
                .await
                .map_err(|e| StackError::Provision {
                    resource: name.clone(),
                    message: sdk_error(e),
                })?;
        }
    }
    Ok(())
}

/// An SDK error with its causes, as the SDKs print it.
fn sdk_error(e: impl std::error::Error) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}
