//! Which aggregates an event moves: no AWS types.

use chrono::{DateTime, Utc};
use eventmart_shared::events::{Event, EventId, Money, format_time};
use serde_json::{Map, Value, json};

/// `series` of the daily aggregates.
pub const DAILY: &str = "daily";

/// One counter of a day's aggregate, and how much an event adds to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Increment {
    pub counter: String,
    pub by: u64,
}

fn inc(counter: impl Into<String>, by: u64) -> Increment {
    Increment {
        counter: counter.into(),
        by,
    }
}

fn revenue(prefix: &str, total: &Money) -> Increment {
    inc(
        format!("{prefix}_{}", total.currency),
        total.amount_minor.get(),
    )
}

/// What storing one event means: its analytics item and its day's increments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingest {
    pub event_id: EventId,
    pub source: &'static str,
    pub detail_type: &'static str,
    /// RFC 3339, as in the event.
    pub occurred_at: String,
    /// `YYYY-MM-DD` of `occurred_at` in UTC.
    pub day: String,
    /// Empty for events that are stored but counted nowhere.
    pub increments: Vec<Increment>,
}

impl Ingest {
    /// What the invocation answers (and the idempotency record keeps): the event id, its
    /// day and the counters it moved.
    pub fn summary(&self) -> Value {
        let counters: Map<String, Value> = self
            .increments
            .iter()
            .map(|i| (i.counter.clone(), json!(i.by)))
            .collect();
        json!({ "eventId": self.event_id.to_string(), "day": self.day, "counters": counters })
    }
}

/// The UTC day an instant belongs to.
pub fn day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

pub fn increments(event: &Event) -> Vec<Increment> {
    match event {
        Event::OrderPlaced(e) => vec![
            inc("ordersPlaced", 1),
            revenue("grossRevenue", &e.data.total),
        ],
        Event::OrderCanceled(e) => vec![
            inc("ordersCanceled", 1),
            revenue("canceledRevenue", &e.data.total),
        ],
        Event::OrderShipped(_) => vec![inc("shipments", 1)],
        Event::MembershipSignedUp(_) => vec![inc("signUps", 1)],
        Event::MembershipCanceled(_) => vec![inc("membershipCancellations", 1)],
        Event::FulfillmentStarted(_)
        | Event::FulfillmentCanceled(_)
        | Event::FulfillmentCancelRejected(_) => vec![],
    }
}

pub fn ingest(event: &Event) -> Ingest {
    let meta = event.metadata();
    let ty = event.event_type();
    Ingest {
        event_id: meta.event_id,
        source: ty.source().as_str(),
        detail_type: ty.detail_type(),
        occurred_at: format_time(meta.occurred_at),
        day: day(meta.occurred_at),
        increments: increments(event),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> Value {
        eventmart_tests::sample_event(name)
    }

    fn parse(v: &Value) -> Event {
        Event::from_eventbridge(v).unwrap()
    }

    fn of(name: &str) -> Vec<Increment> {
        increments(&parse(&sample(name)))
    }

    #[test]
    fn orders_move_counts_and_revenue_per_currency() {
        assert_eq!(
            of("OrderPlaced"),
            vec![inc("ordersPlaced", 1), inc("grossRevenue_EUR", 11499)]
        );
        assert_eq!(
            of("OrderCanceled"),
            vec![inc("ordersCanceled", 1), inc("canceledRevenue_EUR", 11499)]
        );
        let mut yen = sample("OrderCanceled");
        yen["detail"]["data"]["total"] = json!({"amountMinor": 1500, "currency": "JPY"});
        assert_eq!(
            increments(&parse(&yen))[1],
            inc("canceledRevenue_JPY", 1500)
        );
    }

    #[test]
    fn shipments_and_memberships_are_counted() {
        assert_eq!(of("OrderShipped"), vec![inc("shipments", 1)]);
        assert_eq!(of("MembershipSignedUp"), vec![inc("signUps", 1)]);
        assert_eq!(
            of("MembershipCanceled"),
            vec![inc("membershipCancellations", 1)]
        );
    }

    #[test]
    fn fulfillment_events_are_stored_but_not_counted() {
        for name in [
            "FulfillmentStarted",
            "FulfillmentCanceled",
            "FulfillmentCancelRejected",
        ] {
            let i = ingest(&parse(&sample(name)));
            assert!(i.increments.is_empty(), "{name}");
            assert_eq!(i.source, "eventmart.fulfillment");
            assert_eq!(i.detail_type, name);
        }
    }

    #[test]
    fn the_day_is_the_utc_date_of_occurred_at() {
        let mut ev = sample("OrderPlaced");
        // 23:30 at UTC-5 is 04:30 the next day in UTC.
        ev["detail"]["metadata"]["occurredAt"] = json!("2026-11-20T23:30:00-05:00");
        let i = ingest(&parse(&ev));
        assert_eq!(i.day, "2026-11-21");
        assert_eq!(i.occurred_at, "2026-11-21T04:30:00.000Z");
        assert_eq!(
            i.event_id.to_string(),
            "0193b3a4-aaaa-7000-8000-000000000001"
        );
        assert_eq!(
            (i.source, i.detail_type),
            ("eventmart.orders", "OrderPlaced")
        );
    }
}
