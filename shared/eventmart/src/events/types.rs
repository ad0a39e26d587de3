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

/// A membership plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Monthly,
    Annual,
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
    pub total: Money,
}

impl OrderPlaced {
    pub const MAX_LINES: usize = 100;
}

impl Validate for OrderPlaced {
    fn validate(&self) -> Result<(), (String, String)> {
        if self.items.is_empty() || self.items.len() > Self::MAX_LINES {
            return Err(("items".into(), "must hold 1 to 100 lines".into()));
        }
        let mut sum = MinorUnits::try_from(0).expect("zero is in range");
        for (i, line) in self.items.iter().enumerate() {
            if line.unit_price.currency != self.total.currency {
                return Err((
                    format!("items[{i}].unitPrice.currency"),
                    format!("must equal the total's currency {}", self.total.currency),
                ));
            }
            sum = line
                .unit_price
                .amount_minor
                .checked_mul(line.quantity.get().into())
                .and_then(|l| sum.checked_add(l))
                .ok_or_else(|| ("total.amountMinor".to_owned(), "overflows".to_owned()))?;
        }
        if sum != self.total.amount_minor {
            return Err((
                "total.amountMinor".into(),
                format!("must equal the sum of the lines ({})", sum.get()),
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
    /// The order's total, so that analytics can count canceled revenue.
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
