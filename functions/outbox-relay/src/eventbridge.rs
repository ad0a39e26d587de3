//! The EventBridge adapter of [`Publisher`].

use crate::domain::OutboxEntry;
use crate::ports::{EntryFailure, PublishError, Publisher};
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use retryable::sdk;

/// PutEvents to one bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

impl Publisher for EventBridgePublisher {
    async fn put_events(
        &self,
        entries: &[&OutboxEntry],
    ) -> Result<Vec<Result<(), EntryFailure>>, PublishError> {
        let request = entries
            .iter()
            .map(|e| {
                PutEventsRequestEntry::builder()
                    .source(&e.source)
                    .detail_type(&e.detail_type)
                    .detail(&e.detail)
                    .event_bus_name(&self.bus)
                    .build()
            })
            .collect();
        let out = self
            .client
            .put_events()
            .set_entries(Some(request))
            .send()
            .await
            .map_err(|e| {
                // Throttling, faults and the network may pass on a resend; a request
                // EventBridge rejects as malformed or unauthorised will not.
                let message = sdk::describe(&e);
                if sdk::is_retryable(&e) {
                    PublishError::Unavailable(message)
                } else {
                    PublishError::Rejected(message)
                }
            })?;
        // Result entries are in the order of the request's entries.
        Ok(out
            .entries()
            .iter()
            .map(|r| match r.error_code() {
                Some(code) => Err(EntryFailure {
                    code: code.to_owned(),
                    message: r.error_message().unwrap_or_default().to_owned(),
                }),
                None => Ok(()),
            })
            .collect())
    }
}
