//! Memberships as the business sees them: one active membership per customer, with no
//! AWS types.

use chrono::{DateTime, Utc};
use eventmart_shared::events::{
    CorrelationId, CustomerId, Email, Envelope, Event, MembershipCanceled, MembershipId,
    MembershipSignedUp, Metadata, Plan, Reason, rfc3339,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MembershipStatus {
    Active,
    Canceled,
}

impl MembershipStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Active => "ACTIVE",
            MembershipStatus::Canceled => "CANCELED",
        }
    }
}

/// A membership, exactly as the API returns it and the table stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Membership {
    pub membership_id: MembershipId,
    pub customer_id: CustomerId,
    pub email: Email,
    pub plan: Plan,
    pub status: MembershipStatus,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<Reason>,
}

/// A cancel of a membership that is already canceled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the membership is already canceled")]
pub struct AlreadyCanceled;

impl Membership {
    /// Whether `customer` may see and cancel this membership: only its own customer. To
    /// anyone else it does not exist (the API answers as it answers an unknown id), so
    /// that ids cannot be probed.
    pub fn visible_to(&self, customer: &CustomerId) -> bool {
        self.customer_id == *customer
    }

    /// A new membership, ACTIVE now.
    pub fn start(customer_id: CustomerId, email: Email, plan: Plan, now: DateTime<Utc>) -> Self {
        // Millisecond precision, as every event: the stored and returned times agree.
        let now = rfc3339::truncate(now);
        Self {
            membership_id: MembershipId::new(),
            customer_id,
            email,
            plan,
            status: MembershipStatus::Active,
            created_at: now,
            updated_at: now,
            cancel_reason: None,
        }
    }

    pub fn signed_up_event(&self, correlation: CorrelationId, now: DateTime<Utc>) -> Event {
        Event::MembershipSignedUp(Envelope::new(
            Metadata::new(correlation, now),
            MembershipSignedUp {
                membership_id: self.membership_id,
                customer_id: self.customer_id.clone(),
                email: self.email.clone(),
                plan: self.plan,
            },
        ))
    }

    /// The canceled membership and its `MembershipCanceled`.
    pub fn cancel(
        &self,
        reason: Reason,
        correlation: CorrelationId,
        now: DateTime<Utc>,
    ) -> Result<(Membership, Event), AlreadyCanceled> {
        if self.status == MembershipStatus::Canceled {
            return Err(AlreadyCanceled);
        }
        let canceled = Membership {
            status: MembershipStatus::Canceled,
            updated_at: rfc3339::truncate(now),
            cancel_reason: Some(reason.clone()),
            ..self.clone()
        };
        let event = Event::MembershipCanceled(Envelope::new(
            Metadata::new(correlation, now),
            MembershipCanceled {
                membership_id: self.membership_id,
                customer_id: self.customer_id.clone(),
                email: self.email.clone(),
                plan: self.plan,
                reason,
            },
        ));
        Ok((canceled, event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_is_visible_to_its_customer_only() {
        let m = Membership::start(
            "cust-1".parse().unwrap(),
            "a@example.com".parse().unwrap(),
            Plan::Annual,
            Utc::now(),
        );
        assert!(m.visible_to(&"cust-1".parse().unwrap()));
        for other in ["cust-2", "CUST-1", "cust-10"] {
            assert!(!m.visible_to(&other.parse().unwrap()), "{other}");
        }
        let (canceled, _) = m
            .cancel("bye".parse().unwrap(), CorrelationId::new(), Utc::now())
            .unwrap();
        assert!(canceled.visible_to(&"cust-1".parse().unwrap()));
        assert!(!canceled.visible_to(&"cust-2".parse().unwrap()));
    }

    #[test]
    fn lifecycle() {
        let now = Utc::now();
        let m = Membership::start(
            "cust-1".parse().unwrap(),
            "a@example.com".parse().unwrap(),
            Plan::Monthly,
            now,
        );
        assert_eq!(m.status, MembershipStatus::Active);
        let Event::MembershipSignedUp(e) = m.signed_up_event(CorrelationId::new(), now) else {
            panic!("MembershipSignedUp expected")
        };
        assert_eq!(e.data.membership_id, m.membership_id);
        let (canceled, event) = m
            .cancel("bye".parse().unwrap(), CorrelationId::new(), now)
            .unwrap();
        assert_eq!(canceled.status, MembershipStatus::Canceled);
        let Event::MembershipCanceled(c) = event else {
            panic!("MembershipCanceled expected")
        };
        assert_eq!(c.data.plan, Plan::Monthly);
        assert_eq!(
            canceled.cancel("again".parse().unwrap(), CorrelationId::new(), now),
            Err(AlreadyCanceled)
        );
    }
}
