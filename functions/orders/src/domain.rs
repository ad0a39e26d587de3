//! Orders as the business sees them: placing, canceling and shipping, with no AWS types.

use chrono::{DateTime, Utc};
use eventmart_shared::events::{
    CorrelationId, Currency, CustomerId, Email, Envelope, Event, Metadata, MinorUnits, Money,
    OrderCanceled, OrderId, OrderLine, OrderPlaced, Quantity, Reason, Sku, rfc3339,
};
use serde::{Deserialize, Serialize};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Placed,
    Canceled,
    Shipped,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "PLACED",
            OrderStatus::Canceled => "CANCELED",
            OrderStatus::Shipped => "SHIPPED",
        }
    }
}

/// An order, exactly as the API returns it and the table stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub email: Email,
    pub items: Vec<OrderLine>,
    pub total: Money,
    pub status: OrderStatus,
    #[serde(with = "rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason: Option<Reason>,
}

/// The total of an order's lines does not fit in [`MinorUnits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the order's total exceeds {} minor units", MinorUnits::MAX)]
pub struct TotalOverflow;

/// A validated request to place an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    pub customer_id: CustomerId,
    pub email: Email,
    pub items: Vec<OrderLine>,
    pub total: Money,
}

/// One requested line: SKU, quantity, unit price in the order's currency.
pub type LineRequest = (Sku, Quantity, MinorUnits);

impl NewOrder {
    pub fn new(
        customer_id: CustomerId,
        email: Email,
        currency: Currency,
        lines: Vec<LineRequest>,
    ) -> Result<Self, TotalOverflow> {
        let total = Money {
            amount_minor: sum_lines(&lines)?,
            currency,
        };
        let items = lines
            .into_iter()
            .map(|(sku, quantity, amount_minor)| OrderLine {
                sku,
                quantity,
                unit_price: Money {
                    amount_minor,
                    currency,
                },
            })
            .collect();
        Ok(Self {
            customer_id,
            email,
            items,
            total,
        })
    }
}

/// Sum of quantity × unit price, refusing what JSON readers could not hold exactly.
pub fn sum_lines(lines: &[LineRequest]) -> Result<MinorUnits, TotalOverflow> {
    let zero = MinorUnits::try_from(0).map_err(|_| TotalOverflow)?;
    lines
        .iter()
        .try_fold(zero, |sum, (_, quantity, price)| {
            price
                .checked_mul(quantity.get().into())
                .and_then(|line| sum.checked_add(line))
        })
        .ok_or(TotalOverflow)
}

/// Why a cancel is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CancelRefused {
    #[error("the order is already canceled")]
    AlreadyCanceled,
    #[error("the order has shipped and can no longer be canceled")]
    Shipped,
}

/// What an `OrderShipped` event does to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shipment {
    /// The order moves from PLACED to SHIPPED.
    Ship(Box<Order>),
    /// A duplicate: nothing changes.
    AlreadyShipped,
    /// The customer canceled first; the order stays CANCELED.
    Canceled,
}

impl Order {
    /// Whether `customer` may see and change this order: only the customer who placed
    /// it. To anyone else the order does not exist (the API answers as it answers an
    /// unknown id), so that ids cannot be probed.
    pub fn visible_to(&self, customer: &CustomerId) -> bool {
        self.customer_id == *customer
    }

    /// A new order, PLACED now.
    pub fn place(new: NewOrder, now: DateTime<Utc>) -> Self {
        // Millisecond precision, as every event: the stored and returned times agree.
        let now = rfc3339::truncate(now);
        Self {
            order_id: OrderId::new(),
            customer_id: new.customer_id,
            email: new.email,
            items: new.items,
            total: new.total,
            status: OrderStatus::Placed,
            created_at: now,
            updated_at: now,
            cancel_reason: None,
        }
    }

    pub fn placed_event(&self, correlation: CorrelationId, now: DateTime<Utc>) -> Event {
        Event::OrderPlaced(Envelope::new(
            Metadata::new(correlation, now),
            OrderPlaced {
                order_id: self.order_id,
                customer_id: self.customer_id.clone(),
                email: self.email.clone(),
                items: self.items.clone(),
                total: self.total,
            },
        ))
    }

    /// The canceled order and its `OrderCanceled`, if the order has neither shipped nor
    /// been canceled.
    pub fn cancel(
        &self,
        reason: Reason,
        correlation: CorrelationId,
        now: DateTime<Utc>,
    ) -> Result<(Order, Event), CancelRefused> {
        match self.status {
            OrderStatus::Canceled => return Err(CancelRefused::AlreadyCanceled),
            OrderStatus::Shipped => return Err(CancelRefused::Shipped),
            OrderStatus::Placed => {}
        }
        let canceled = Order {
            status: OrderStatus::Canceled,
            updated_at: rfc3339::truncate(now),
            cancel_reason: Some(reason.clone()),
            ..self.clone()
        };
        let event = Event::OrderCanceled(Envelope::new(
            Metadata::new(correlation, now),
            OrderCanceled {
                order_id: self.order_id,
                customer_id: self.customer_id.clone(),
                email: self.email.clone(),
                reason,
                total: self.total,
            },
        ));
        Ok((canceled, event))
    }

    pub fn ship(&self, now: DateTime<Utc>) -> Shipment {
        match self.status {
            OrderStatus::Placed => Shipment::Ship(Box::new(Order {
                status: OrderStatus::Shipped,
                updated_at: rfc3339::truncate(now),
                ..self.clone()
            })),
            OrderStatus::Shipped => Shipment::AlreadyShipped,
            OrderStatus::Canceled => Shipment::Canceled,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_order(lines: Vec<(u64, u32)>) -> Result<NewOrder, TotalOverflow> {
        NewOrder::new(
            "cust-1".parse().unwrap(),
            "a@example.com".parse().unwrap(),
            "EUR".parse().unwrap(),
            lines
                .into_iter()
                .map(|(p, q)| {
                    (
                        "SKU-1".parse().unwrap(),
                        Quantity::try_from(q).unwrap(),
                        MinorUnits::try_from(p).unwrap(),
                    )
                })
                .collect(),
        )
    }

    #[test]
    fn total_is_the_sum_of_the_lines() {
        let o = new_order(vec![(250, 2), (1000, 3)]).unwrap();
        assert_eq!(o.total.amount_minor.get(), 3500);
        assert_eq!(o.total.currency.as_str(), "EUR");
    }

    #[test]
    fn total_overflow_is_refused() {
        assert_eq!(
            new_order(vec![(MinorUnits::MAX, 2)]).unwrap_err(),
            TotalOverflow
        );
        assert_eq!(
            new_order(vec![(MinorUnits::MAX, 1), (1, 1)]).unwrap_err(),
            TotalOverflow
        );
    }

    #[test]
    fn an_order_is_visible_to_its_customer_only() {
        let order = Order::place(new_order(vec![(100, 1)]).unwrap(), Utc::now());
        assert!(order.visible_to(&"cust-1".parse().unwrap()));
        for other in ["cust-2", "Cust-1", "cust-1.", "cust"] {
            assert!(!order.visible_to(&other.parse().unwrap()), "{other}");
        }
    }

    #[test]
    fn lifecycle() {
        let now = Utc::now();
        let order = Order::place(new_order(vec![(100, 1)]).unwrap(), now);
        assert_eq!(order.status, OrderStatus::Placed);
        let Event::OrderPlaced(placed) = order.placed_event(CorrelationId::new(), now) else {
            panic!("OrderPlaced expected")
        };
        assert_eq!(placed.data.order_id, order.order_id);
        let (canceled, event) = order
            .cancel("late".parse().unwrap(), CorrelationId::new(), now)
            .unwrap();
        assert_eq!(canceled.status, OrderStatus::Canceled);
        let Event::OrderCanceled(c) = event else {
            panic!("OrderCanceled expected")
        };
        assert_eq!(c.data.total, order.total);
        assert_eq!(
            canceled
                .cancel("again".parse().unwrap(), CorrelationId::new(), now)
                .unwrap_err(),
            CancelRefused::AlreadyCanceled
        );
        assert_eq!(canceled.ship(now), Shipment::Canceled);
        let Shipment::Ship(shipped) = order.ship(now) else {
            panic!("a placed order ships")
        };
        assert_eq!(shipped.ship(now), Shipment::AlreadyShipped);
        assert_eq!(
            shipped
                .cancel("no".parse().unwrap(), CorrelationId::new(), now)
                .unwrap_err(),
            CancelRefused::Shipped
        );
    }
}
