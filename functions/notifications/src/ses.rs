//! The SES v2 adapter of [`Mailer`].

use crate::ports::{MailError, Mailer, MessageId};
use crate::templates::Rendered;
use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::config::http::HttpResponse;
use aws_sdk_sesv2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
use eventmart_shared::events::Email;
use retryable::sdk;

/// Sends plain-text emails from one verified identity.
#[derive(Debug, Clone)]
pub struct SesMailer {
    client: Client,
    sender: Email,
}

impl SesMailer {
    pub fn new(client: Client, sender: Email) -> Self {
        Self { client, sender }
    }
}

fn content(text: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError::Rejected(format!("email content: {e}")))
}

impl Mailer for SesMailer {
    async fn send(&self, to: &Email, email: &Rendered) -> Result<MessageId, MailError> {
        let message = Message::builder()
            .subject(content(&email.subject)?)
            .body(Body::builder().text(content(&email.body)?).build())
            .build();
        let out = self
            .client
            .send_email()
            .from_email_address(self.sender.as_str())
            .destination(Destination::builder().to_addresses(to.as_str()).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| classify(e, to))?;
        out.message_id
            .map(MessageId)
            .ok_or_else(|| MailError::Unavailable("SES returned no message id".into()))
    }
}

/// SES's verdict on this message (rejected content, unverified sender or MAIL FROM
/// domain, invalid parameters, sending suspended or paused) is permanent; throttling,
/// 5xx and the network are transient: the one SDK classification decides.
fn classify(e: SdkError<SendEmailError, HttpResponse>, to: &Email) -> MailError {
    let message = match &e {
        // Code and message only: the raw response is noise in a dead letter.
        SdkError::ServiceError(se) => format!(
            "{}: {}",
            se.err().code().unwrap_or("unknown error"),
            se.err().message().unwrap_or("no message")
        ),
        _ => sdk::describe(&e),
    };
    // SES names unverified identities in its message, the recipient among them in the
    // sandbox; the reason goes to logs and the dead-letter queue.
    let message = redact(&message, to);
    if sdk::is_retryable(&e) {
        MailError::Unavailable(message)
    } else {
        MailError::Rejected(message)
    }
}

/// Replaces every occurrence of the address, in any letter case, with `<recipient>`.
fn redact(text: &str, email: &Email) -> String {
    let needle = email.as_str().to_ascii_lowercase();
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` hold in `text`.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = lower[at..].find(&needle) {
        out.push_str(&text[at..at + i]);
        out.push_str("<recipient>");
        at += i + needle.len();
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipient_is_redacted_from_provider_messages() {
        let to: Email = "Ada@Example.com".parse().unwrap();
        assert_eq!(
            redact(
                "identities failed the check: shop@x.test, ada@example.COM; again ADA@EXAMPLE.COM.",
                &to
            ),
            "identities failed the check: shop@x.test, <recipient>; again <recipient>."
        );
        assert_eq!(redact("nothing here", &to), "nothing here");
    }
}
