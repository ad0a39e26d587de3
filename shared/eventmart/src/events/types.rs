//! The data of each event type.

use super::ids::*;
use super::{EventData, EventType, Validate};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderLine {
    pub sku: Sku,
    pub quantity: Quantity,
    pub unit_price: Money,
}

/// A membership plan. The plan catalog: what each plan gives its members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Monthly,
    Annual,
}

impl Plan {
    pub const ALL: [Plan; 2] = [Plan::Monthly, Plan::Annual];

    /// What a member on this plan saves on every order, off its subtotal.
    pub const fn discount(self) -> BasisPoints {
        match self {
            Plan::Monthly => BasisPoints::new(500),
            Plan::Annual => BasisPoints::new(1_000),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Monthly => "monthly",
            Plan::Annual => "annual",
        }
    }
}

/// The membership an order's discount came from, as it was when the order was placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberDiscount {
    pub membership_id: MembershipId,
    pub plan: Plan,
    /// The plan's rate at the time ([`Plan::discount`]).
    pub discount_basis_points: BasisPoints,
}

/// What an order costs: the lines' sum, what a membership takes off it, and what is left
/// to pay. The one rule ([`Pricing::new`]): the discount is the member's rate of the
/// subtotal, rounded down to a whole minor unit (so a member never gets more off than the
/// plan says, in any currency), taken once on the subtotal, never per line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    pub subtotal: Money,
    pub discount: Money,
    pub total: Money,
    pub membership: Option<MemberDiscount>,
}

impl Pricing {
    pub fn new(subtotal: Money, membership: Option<MemberDiscount>) -> Self {
        let off = membership.map_or(MinorUnits::ZERO, |m| {
            m.discount_basis_points.of(subtotal.amount_minor)
        });
        let left = subtotal
            .amount_minor
            .checked_sub(off)
            .expect("a rate of at most 100 % takes at most the whole amount");
        let currency = subtotal.currency;
        Self {
            subtotal,
            discount: Money {
                amount_minor: off,
                currency,
            },
            total: Money {
                amount_minor: left,
                currency,
            },
            membership,
        }
    }
}

/// A customer placed an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderPlaced {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub email: Email,
    /// At least one line, at most 100; every line in the currency of `total`.
    #[schemars(length(min = 1, max = 100))]
    pub items: Vec<OrderLine>,
    /// Sum of quantity × unit price over the lines.
    pub subtotal: Money,
    /// What the customer's membership took off the subtotal (zero for a non-member): its
    /// rate of the subtotal, rounded down to a whole minor unit.
    pub discount: Money,
    /// What the customer pays: subtotal − discount.
    pub total: Money,
    /// The membership the discount came from; absent when the customer was not a member
    /// (as far as the orders service knew when the order was placed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership: Option<MemberDiscount>,
}

impl OrderPlaced {
    pub const MAX_LINES: usize = 100;

    /// The order's prices, as one value.
    pub fn pricing(&self) -> Pricing {
        Pricing {
            subtotal: self.subtotal,
            discount: self.discount,
            total: self.total,
            membership: self.membership,
        }
    }
}

impl Validate for OrderPlaced {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.items.is_empty() || self.items.len() > Self::MAX_LINES {
            return Err(("items".into(), "must hold 1 to 100 lines".into()));
        }
        let currency = self.subtotal.currency;
        let mut sum = MinorUnits::ZERO;
        for (i, line) in self.items.iter().enumerate() {
            if line.unit_price.currency != currency {
                return Err((
                    format!("items[{i}].unitPrice.currency"),
                    format!("must equal the subtotal's currency {currency}"),
                ));
            }
            sum = line
                .unit_price
                .amount_minor
                .checked_mul(line.quantity.get().into())
                .and_then(|l| sum.checked_add(l))
                .ok_or_else(|| ("subtotal.amountMinor".to_owned(), "overflows".to_owned()))?;
        }
        for (field, money) in [("discount", self.discount), ("total", self.total)] {
            if money.currency != currency {
                return Err((
                    format!("{field}.currency"),
                    format!("must equal the subtotal's currency {currency}"),
                ));
            }
        }
        if sum != self.subtotal.amount_minor {
            return Err((
                "subtotal.amountMinor".into(),
                format!("must equal the sum of the lines ({})", sum.get()),
            ));
        }
        if let Some(m) = self.membership
            && m.discount_basis_points != m.plan.discount()
        {
            return Err((
                "membership.discountBasisPoints".into(),
                format!(
                    "must be the {} plan's {}",
                    m.plan.as_str(),
                    m.plan.discount().get()
                ),
            ));
        }
        let expected = Pricing::new(self.subtotal, self.membership);
        if self.discount != expected.discount {
            return Err((
                "discount.amountMinor".into(),
                format!(
                    "must be the membership's rate of the subtotal, rounded down ({})",
                    expected.discount.amount_minor.get()
                ),
            ));
        }
        if self.total != expected.total {
            return Err((
                "total.amountMinor".into(),
                format!(
                    "must equal the subtotal less the discount ({})",
                    expected.total.amount_minor.get()
                ),
            ));
        }
        Ok(())
    }
}

/// A customer canceled an order that had not shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderCanceled {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub email: Email,
    pub reason: Reason,
    /// The order's total as paid (after any member discount): what the cancel refunds,
    /// and what analytics counts as canceled revenue.
    pub total: Money,
}

/// A customer started a membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MembershipSignedUp {
    pub membership_id: MembershipId,
    pub customer_id: CustomerId,
    pub email: Email,
    pub plan: Plan,
}

/// A customer ended a membership.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MembershipCanceled {
    pub membership_id: MembershipId,
    pub customer_id: CustomerId,
    pub email: Email,
    pub plan: Plan,
    pub reason: Reason,
}

/// The warehouse began preparing an order's shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FulfillmentStarted {
    pub order_id: OrderId,
}

/// A shipment that had not left was reversed because its order was canceled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FulfillmentCanceled {
    pub order_id: OrderId,
}

/// An order was canceled after its shipment left: the cancel could not be honoured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FulfillmentCancelRejected {
    pub order_id: OrderId,
    pub reason: Reason,
}

/// An order's shipment left the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OrderShipped {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub email: Email,
}

macro_rules! event_data {
    ($($ty:ident),* $(,)?) => {$(
        impl EventData for $ty {
            const TYPE: EventType = EventType::$ty;
        }
    )*};
}
event_data!(
    OrderPlaced,
    OrderCanceled,
    MembershipSignedUp,
    MembershipCanceled,
    FulfillmentStarted,
    FulfillmentCanceled,
    FulfillmentCancelRejected,
    OrderShipped,
);

impl Validate for OrderCanceled {}
impl Validate for MembershipSignedUp {}
impl Validate for MembershipCanceled {}
impl Validate for FulfillmentStarted {}
impl Validate for FulfillmentCanceled {}
impl Validate for FulfillmentCancelRejected {}
impl Validate for OrderShipped {}
