//! What an event asks of this function, decided without I/O: one email, an outcome to
//! keep for a later cancel email, or nothing; and what the record of a sent email holds.

use chrono::{DateTime, Utc};
use eventmart_shared::events::{
    CorrelationId, Email, Event, EventId, MembershipCanceled, MembershipSignedUp, Metadata,
    OrderCanceled, OrderId, OrderPlaced, OrderShipped, format_time,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What fulfillment did about a canceled order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FulfillmentOutcome {
    /// The shipment was stopped (`FulfillmentCanceled`).
    Canceled,
    /// The shipment had already left (`FulfillmentCancelRejected`).
    Rejected,
}

impl FulfillmentOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            FulfillmentOutcome::Canceled => "CANCELED",
            FulfillmentOutcome::Rejected => "REJECTED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "CANCELED" => Some(FulfillmentOutcome::Canceled),
            "REJECTED" => Some(FulfillmentOutcome::Rejected),
            _ => None,
        }
    }
}

/// The email an event asks for, with the data it speaks of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mail {
    OrderPlaced(OrderPlaced),
    OrderCanceled(OrderCanceled),
    OrderShipped(OrderShipped),
    MembershipSignedUp(MembershipSignedUp),
    MembershipCanceled(MembershipCanceled),
}

impl Mail {
    /// The order whose fulfillment outcome the email states, as far as it is known when
    /// it is sent: the cancel email's.
    pub fn states_outcome_of(&self) -> Option<&OrderId> {
        match self {
            Mail::OrderCanceled(c) => Some(&c.order_id),
            _ => None,
        }
    }
}

/// What one event asks of the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction {
    /// One email to `to`, sent at most once per event id.
    Email {
        meta: Metadata,
        to: Email,
        mail: Mail,
    },
    /// No email: fulfillment's outcome, kept for the cancel email. Writing the same value
    /// twice is harmless, so duplicates need no idempotency record.
    KeepOutcome {
        order_id: OrderId,
        outcome: FulfillmentOutcome,
        event_id: EventId,
    },
    /// No email and nothing to keep.
    Ignore { detail_type: &'static str },
}

pub fn react(event: Event) -> Reaction {
    let email = |meta: Metadata, to: Email, mail: Mail| Reaction::Email { meta, to, mail };
    match event {
        Event::FulfillmentCanceled(e) => Reaction::KeepOutcome {
            order_id: e.data.order_id,
            outcome: FulfillmentOutcome::Canceled,
            event_id: e.metadata.event_id,
        },
        Event::FulfillmentCancelRejected(e) => Reaction::KeepOutcome {
            order_id: e.data.order_id,
            outcome: FulfillmentOutcome::Rejected,
            event_id: e.metadata.event_id,
        },
        // Not routed here by the template; a stray one needs no email.
        Event::FulfillmentStarted(_) => Reaction::Ignore {
            detail_type: "FulfillmentStarted",
        },
        Event::OrderPlaced(e) => email(e.metadata, e.data.email.clone(), Mail::OrderPlaced(e.data)),
        Event::OrderCanceled(e) => email(
            e.metadata,
            e.data.email.clone(),
            Mail::OrderCanceled(e.data),
        ),
        Event::OrderShipped(e) => {
            email(e.metadata, e.data.email.clone(), Mail::OrderShipped(e.data))
        }
        Event::MembershipSignedUp(e) => email(
            e.metadata,
            e.data.email.clone(),
            Mail::MembershipSignedUp(e.data),
        ),
        Event::MembershipCanceled(e) => email(
            e.metadata,
            e.data.email.clone(),
            Mail::MembershipCanceled(e.data),
        ),
    }
}

/// `MESSAGE#<eventId>`: one email that went out, without the address itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    pub event_id: EventId,
    pub template: &'static str,
    pub recipient_hash: String,
    pub ses_message_id: String,
    /// RFC 3339.
    pub sent_at: String,
    pub correlation_id: CorrelationId,
}

impl MessageRecord {
    /// The record of the email of `meta`'s event, sent to `to` at `sent_at`.
    pub fn of(
        meta: &Metadata,
        to: &Email,
        template: &'static str,
        ses_message_id: &str,
        sent_at: DateTime<Utc>,
    ) -> Self {
        Self {
            event_id: meta.event_id,
            template,
            recipient_hash: recipient_hash(to),
            ses_message_id: ses_message_id.to_owned(),
            sent_at: format_time(sent_at),
            correlation_id: meta.correlation_id,
        }
    }
}

/// Hex SHA-256 of the lower-cased address: lets support find a customer's messages
/// without the table holding addresses.
pub fn recipient_hash(email: &Email) -> String {
    Sha256::digest(email.as_str().to_lowercase().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What happened to an email event; stored as the idempotency record's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub template: String,
    /// The SES message id; `None` when a message record showed that an earlier
    /// invocation had already sent the email.
    pub ses_message_id: Option<String>,
}
