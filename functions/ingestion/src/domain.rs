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

/// `<prefix>_<CUR>` + the amount in minor units: a per-currency amount.
fn amount(prefix: &str, money: &Money) -> Increment {
    inc(
        format!("{prefix}_{}", money.currency),
        money.amount_minor.get(),
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
        Event::OrderPlaced(e) => {
            // Revenue is what the customer pays: the total, after any member discount.
            let mut v = vec![
                inc("ordersPlaced", 1),
                amount("grossRevenue", &e.data.total),
            ];
            // A member discount is counted when it is given, on the order's day; an
            // order whose discount is zero (a non-member, or a rate that rounds down
            // to nothing) is no discounted order.
            if e.data.discount.amount_minor.get() > 0 {
                v.push(inc("discountedOrders", 1));
                v.push(amount("discountsGiven", &e.data.discount));
            }
            v
        }
        // The total as paid: what the cancel refunds. A cancel does not take the
        // order's discount back out of `discountsGiven` (see the crate docs).
        Event::OrderCanceled(e) => vec![
            inc("ordersCanceled", 1),
            amount("canceledRevenue", &e.data.total),
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
    use eventmart_shared::events::Plan;

    fn sample(name: &str) -> Value {
        eventmart_tests::sample_event(name)
    }

    fn parse(v: &Value) -> Event {
        Event::from_eventbridge(v).unwrap()
    }

    fn of(name: &str) -> Vec<Increment> {
        increments(&parse(&sample(name)))
    }

    /// The sample order as one line of `subtotal` minor units in `currency`.
    fn order(subtotal: u64, currency: &str, plan: Option<Plan>) -> Value {
        eventmart_tests::priced_order(sample("OrderPlaced"), subtotal, currency, plan)
    }

    #[test]
    fn orders_move_counts_and_revenue_per_currency() {
        // The sample is an annual member's order: 114.99 less 10 %, 11.49 off.
        assert_eq!(
            of("OrderPlaced"),
            vec![
                inc("ordersPlaced", 1),
                inc("grossRevenue_EUR", 10350),
                inc("discountedOrders", 1),
                inc("discountsGiven_EUR", 1149),
            ]
        );
        // A cancel moves the revenue it refunds, and no discount counter.
        assert_eq!(
            of("OrderCanceled"),
            vec![inc("ordersCanceled", 1), inc("canceledRevenue_EUR", 10350)]
        );
        let mut yen = sample("OrderCanceled");
        yen["detail"]["data"]["total"] = json!({"amountMinor": 1500, "currency": "JPY"});
        assert_eq!(
            increments(&parse(&yen))[1],
            inc("canceledRevenue_JPY", 1500)
        );
    }

    #[test]
    fn member_discounts_are_counted_per_currency_and_only_when_given() {
        assert_eq!(
            increments(&parse(&order(1999, "USD", Some(Plan::Monthly)))),
            vec![
                inc("ordersPlaced", 1),
                inc("grossRevenue_USD", 1900),
                inc("discountedOrders", 1),
                inc("discountsGiven_USD", 99),
            ]
        );
        assert_eq!(
            increments(&parse(&order(1500, "JPY", Some(Plan::Annual)))),
            vec![
                inc("ordersPlaced", 1),
                inc("grossRevenue_JPY", 1350),
                inc("discountedOrders", 1),
                inc("discountsGiven_JPY", 150),
            ]
        );
        // A non-member pays the subtotal: no discount counter moves.
        assert_eq!(
            increments(&parse(&order(11499, "EUR", None))),
            vec![inc("ordersPlaced", 1), inc("grossRevenue_EUR", 11499)]
        );
        // A member whose rate rounds down to nothing got no discount.
        assert_eq!(
            increments(&parse(&order(19, "EUR", Some(Plan::Monthly)))),
            vec![inc("ordersPlaced", 1), inc("grossRevenue_EUR", 19)]
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
