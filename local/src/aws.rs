//! The account and region the local stack pretends to be in (moto's defaults), and the
//! ARNs built from them.

/// The account id in every ARN, event and request context (moto's default account).
pub const ACCOUNT_ID: &str = "123456789012";
/// The region of every ARN, event and SDK client.
pub const REGION: &str = "us-east-1";

/// `arn:aws:lambda:<region>:<account>:function:<name>`.
pub fn function_arn(region: &str, account: &str, function: &str) -> String {
    format!("arn:aws:lambda:{region}:{account}:function:{function}")
}

/// The ARN of a queue from its URL (`http://host/<account>/<name>`), as SQS names it.
pub fn queue_arn(region: &str, url: &str) -> String {
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let name = parts.next().unwrap_or_default();
    let account = parts.next().unwrap_or(ACCOUNT_ID);
    format!("arn:aws:sqs:{region}:{account}:{name}")
}
