//! Orders as the business sees them: placing, canceling and shipping, with no AWS types.

use chrono::{DateTime, Utc};
use eventmart_shared::events::{
    CorrelationId, Currency, CustomerId, Email, Envelope, Event, MemberDiscount, Metadata,
    MinorUnits, Money, OrderCanceled, OrderId, OrderLine, OrderPlaced, Pricing, Quantity, Reason,
    Sku, rfc3339,
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
    /// The lines' sum.
    pub subtotal: Money,
    /// What the customer's membership took off ([`Pricing::new`]); zero for a non-member.
    pub discount: Money,
    /// What the customer pays, and what a cancel refunds.
    pub total: Money,
    /// The membership the discount came from, when the customer was a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MemberDiscount>,
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
    /// The lines' sum, before any member discount.
    pub subtotal: Money,
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
        let subtotal = Money {
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
            subtotal,
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

    /// A new order, PLACED now, at the price of `membership` (the customer's, as the
    /// view knows it now; `None` for a non-member).
    pub fn place(new: NewOrder, membership: Option<MemberDiscount>, now: DateTime<Utc>) -> Self {
        // Millisecond precision, as every event: the stored and returned times agree.
        let now = rfc3339::truncate(now);
        let price = Pricing::new(new.subtotal, membership);
        Self {
            order_id: OrderId::new(),
            customer_id: new.customer_id,
            email: new.email,
            items: new.items,
            subtotal: price.subtotal,
            discount: price.discount,
            total: price.total,
            membership: price.membership,
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
                subtotal: self.subtotal,
                discount: self.discount,
                total: self.total,
                membership: self.membership,
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
    use eventmart_shared::events::{MembershipId, Plan};

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
    fn subtotal_is_the_sum_of_the_lines() {
        let o = new_order(vec![(250, 2), (1000, 3)]).unwrap();
        assert_eq!(o.subtotal.amount_minor.get(), 3500);
        assert_eq!(o.subtotal.currency.as_str(), "EUR");
    }

    fn member(plan: Plan) -> MemberDiscount {
        MemberDiscount {
            membership_id: MembershipId::new(),
            plan,
            discount_basis_points: plan.discount(),
        }
    }

    /// An order of `lines` (unit price, quantity) in `currency` at `plan`'s price.
    fn priced(currency: &str, lines: &[(u64, u32)], plan: Option<Plan>) -> Order {
        let new = NewOrder::new(
            "cust-1".parse().unwrap(),
            "a@example.com".parse().unwrap(),
            currency.parse().unwrap(),
            lines
                .iter()
                .map(|&(p, q)| {
                    (
                        "SKU-1".parse().unwrap(),
                        Quantity::try_from(q).unwrap(),
                        MinorUnits::try_from(p).unwrap(),
                    )
                })
                .collect(),
        )
        .unwrap();
        Order::place(new, plan.map(member), Utc::now())
    }

    fn amounts(o: &Order) -> (u64, u64, u64) {
        (
            o.subtotal.amount_minor.get(),
            o.discount.amount_minor.get(),
            o.total.amount_minor.get(),
        )
    }

    #[test]
    fn a_non_member_pays_the_subtotal() {
        let o = priced("EUR", &[(8999, 1)], None);
        assert_eq!(amounts(&o), (8999, 0, 8999));
        assert_eq!(o.membership, None);
        assert_eq!(o.discount.currency.as_str(), "EUR");
    }

    #[test]
    fn the_discount_is_taken_once_on_the_subtotal_rounded_down_to_a_minor_unit() {
        // Two decimals (EUR): 10 % of 89.99 is 8.999, so 8.99 off and 81.00 to pay.
        let o = priced("EUR", &[(8999, 1)], Some(Plan::Annual));
        assert_eq!(amounts(&o), (8999, 899, 8100));
        // Per line it would be 0.09 + 0.09 + 0.09 = 0.27 off; on the total 0.29.
        let o = priced("EUR", &[(199, 3)], Some(Plan::Monthly));
        assert_eq!(amounts(&o), (597, 29, 568));
        // No decimals (JPY): 5 % of ¥1,999 is ¥99.95, so ¥99 off.
        let o = priced("JPY", &[(1999, 1)], Some(Plan::Monthly));
        assert_eq!(amounts(&o), (1999, 99, 1900));
        // ¥19 is too little for a whole yen at 5 %.
        let o = priced("JPY", &[(19, 1)], Some(Plan::Monthly));
        assert_eq!(amounts(&o), (19, 0, 19));
        assert!(o.membership.is_some(), "a member still, with nothing off");
        // Three decimals (KWD): 10 % of 12.345 KD is 1.2345, so 1.234 off.
        let o = priced("KWD", &[(12345, 1)], Some(Plan::Annual));
        assert_eq!(amounts(&o), (12345, 1234, 11111));
        assert_eq!(o.total.currency.as_str(), "KWD");
    }

    #[test]
    fn the_placed_event_carries_the_prices_and_the_membership_and_validates() {
        use eventmart_shared::events::Validate;
        let o = priced("EUR", &[(2500, 2)], Some(Plan::Annual));
        let Event::OrderPlaced(placed) = o.placed_event(CorrelationId::new(), Utc::now()) else {
            panic!("OrderPlaced expected")
        };
        assert_eq!(placed.data.subtotal, o.subtotal);
        assert_eq!(placed.data.discount.amount_minor.get(), 500);
        assert_eq!(placed.data.total.amount_minor.get(), 4500);
        assert_eq!(placed.data.membership, o.membership);
        placed.data.validate().unwrap();
        // A discount that is not the rule's is refused by the contract.
        let mut wrong = placed.data.clone();
        wrong.discount.amount_minor = MinorUnits::try_from(501).unwrap();
        assert_eq!(wrong.validate().unwrap_err().0, "discount.amountMinor");
        let mut wrong = placed.data;
        wrong.total.amount_minor = MinorUnits::try_from(5000).unwrap();
        assert_eq!(wrong.validate().unwrap_err().0, "total.amountMinor");
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
        let order = Order::place(new_order(vec![(100, 1)]).unwrap(), None, Utc::now());
        assert!(order.visible_to(&"cust-1".parse().unwrap()));
        for other in ["cust-2", "Cust-1", "cust-1.", "cust"] {
            assert!(!order.visible_to(&other.parse().unwrap()), "{other}");
        }
    }

    #[test]
    fn lifecycle() {
        let now = Utc::now();
        let order = Order::place(new_order(vec![(100, 1)]).unwrap(), None, now);
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
