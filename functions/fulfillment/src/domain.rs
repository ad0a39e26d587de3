//! Shipments and the decisions events and warehouse actions cause. Pure: no AWS types,
//! no I/O; the handler reads the shipment, asks here what to do, and commits the result.

use chrono::{DateTime, Utc};
use eventmart_shared::auth::{AuthError, Caller, Role};
use eventmart_shared::events::{
    CorrelationId, CustomerId, Email, Envelope, Event, FulfillmentCancelRejected,
    FulfillmentCanceled, FulfillmentStarted, Metadata, OrderCanceled, OrderId, OrderPlaced,
    OrderShipped, Reason, format_time,
};
use serde::{Deserialize, Serialize};

/// Who a shipment goes to: kept from `OrderPlaced` for `OrderShipped`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub customer_id: CustomerId,
    pub email: Email,
}

/// A shipment's state. Preparing and shipped shipments always have a recipient; a
/// tombstone (the cancel arrived before its order) has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Preparing(Recipient),
    Shipped(Recipient),
    Canceled {
        recipient: Option<Recipient>,
        tombstone: bool,
    },
}

/// The status as stored and shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Preparing,
    Canceled,
    Shipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Preparing => "PREPARING",
            Status::Canceled => "CANCELED",
            Status::Shipped => "SHIPPED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "PREPARING" => Some(Status::Preparing),
            "CANCELED" => Some(Status::Canceled),
            "SHIPPED" => Some(Status::Shipped),
            _ => None,
        }
    }
}

impl State {
    pub fn status(&self) -> Status {
        match self {
            State::Preparing(_) => Status::Preparing,
            State::Shipped(_) => Status::Shipped,
            State::Canceled { .. } => Status::Canceled,
        }
    }

    pub fn recipient(&self) -> Option<&Recipient> {
        match self {
            State::Preparing(r) | State::Shipped(r) => Some(r),
            State::Canceled { recipient, .. } => recipient.as_ref(),
        }
    }

    pub fn is_tombstone(&self) -> bool {
        matches!(
            self,
            State::Canceled {
                tombstone: true,
                ..
            }
        )
    }
}

/// `SHIPMENT#<orderId>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipment {
    pub order_id: OrderId,
    pub state: State,
    pub updated_at: DateTime<Utc>,
}

/// What clients see of a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipmentView {
    pub order_id: String,
    pub status: Status,
    pub updated_at: String,
}

impl Shipment {
    pub fn view(&self) -> ShipmentView {
        ShipmentView {
            order_id: self.order_id.to_string(),
            status: self.state.status(),
            updated_at: format_time(self.updated_at),
        }
    }
}

/// One effect of a decision, committed atomically with the others.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Write `shipment`, provided the stored one is still in the status it was read in
    /// (`None`: still absent). A concurrent change aborts the whole transaction.
    Put {
        shipment: Shipment,
        expected: Option<Status>,
    },
    /// Publish an event through the outbox.
    Emit(Event),
}

/// What an event did to the shipment; the idempotency record stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    Prepared,
    AlreadyExists,
    LateOrderAbsorbed,
    Canceled,
    Tombstoned,
    CancelRejected,
    AlreadyCanceled,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub changes: Vec<Change>,
}

impl Decision {
    fn nothing(outcome: Outcome) -> Self {
        Self {
            outcome,
            changes: vec![],
        }
    }

    /// The events this decision emits.
    pub fn emitted(&self) -> impl Iterator<Item = &Event> {
        self.changes.iter().filter_map(|c| match c {
            Change::Emit(e) => Some(e),
            Change::Put { .. } => None,
        })
    }
}

/// Why a cancel that came after the shipment left is rejected.
pub const ALREADY_LEFT: &str = "the shipment has already left the warehouse";

fn metadata(correlation_id: CorrelationId, now: DateTime<Utc>) -> Metadata {
    Metadata::new(correlation_id, now)
}

pub fn on_order_placed(
    current: Option<&Shipment>,
    event: &Envelope<OrderPlaced>,
    now: DateTime<Utc>,
) -> Decision {
    let data = &event.data;
    match current {
        None => {
            let shipment = Shipment {
                order_id: data.order_id,
                state: State::Preparing(Recipient {
                    customer_id: data.customer_id.clone(),
                    email: data.email.clone(),
                }),
                updated_at: now,
            };
            let started = Event::FulfillmentStarted(Envelope::new(
                metadata(event.metadata.correlation_id, now),
                FulfillmentStarted {
                    order_id: data.order_id,
                },
            ));
            Decision {
                outcome: Outcome::Prepared,
                changes: vec![
                    Change::Put {
                        shipment,
                        expected: None,
                    },
                    Change::Emit(started),
                ],
            }
        }
        // The cancel came first: the order must not be prepared.
        Some(s) if s.state.is_tombstone() => Decision::nothing(Outcome::LateOrderAbsorbed),
        Some(_) => Decision::nothing(Outcome::AlreadyExists),
    }
}

pub fn on_order_canceled(
    current: Option<&Shipment>,
    event: &Envelope<OrderCanceled>,
    now: DateTime<Utc>,
) -> Decision {
    let order_id = event.data.order_id;
    let correlation_id = event.metadata.correlation_id;
    let canceled = |shipment: Shipment, expected: Option<Status>, outcome: Outcome| Decision {
        outcome,
        changes: vec![
            Change::Put { shipment, expected },
            Change::Emit(Event::FulfillmentCanceled(Envelope::new(
                metadata(correlation_id, now),
                FulfillmentCanceled { order_id },
            ))),
        ],
    };
    match current {
        None => canceled(
            Shipment {
                order_id,
                state: State::Canceled {
                    recipient: None,
                    tombstone: true,
                },
                updated_at: now,
            },
            None,
            Outcome::Tombstoned,
        ),
        Some(s) => match &s.state {
            State::Preparing(r) => canceled(
                Shipment {
                    order_id,
                    state: State::Canceled {
                        recipient: Some(r.clone()),
                        tombstone: false,
                    },
                    updated_at: now,
                },
                Some(Status::Preparing),
                Outcome::Canceled,
            ),
            // SHIPPED is final, so no condition is needed to keep this decision true.
            State::Shipped(_) => Decision {
                outcome: Outcome::CancelRejected,
                changes: vec![Change::Emit(Event::FulfillmentCancelRejected(
                    Envelope::new(
                        metadata(correlation_id, now),
                        FulfillmentCancelRejected {
                            order_id,
                            reason: ALREADY_LEFT
                                .parse::<Reason>()
                                .expect("the constant reason is valid"),
                        },
                    ),
                ))],
            },
            State::Canceled { .. } => Decision::nothing(Outcome::AlreadyCanceled),
        },
    }
}

/// Why the warehouse cannot ship.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipRefused {
    #[error("no shipment for order {0}")]
    NotFound(OrderId),
    #[error("the shipment of order {0} was canceled")]
    Canceled(OrderId),
}

/// The warehouse marks a shipment shipped. Shipping twice is not an error and emits once.
pub fn ship(
    current: Option<&Shipment>,
    order_id: OrderId,
    correlation_id: CorrelationId,
    now: DateTime<Utc>,
) -> Result<(Shipment, Vec<Change>), ShipRefused> {
    let current = current.ok_or(ShipRefused::NotFound(order_id))?;
    match &current.state {
        State::Preparing(r) => {
            let shipped = Shipment {
                order_id,
                state: State::Shipped(r.clone()),
                updated_at: now,
            };
            let event = Event::OrderShipped(Envelope::new(
                metadata(correlation_id, now),
                OrderShipped {
                    order_id,
                    customer_id: r.customer_id.clone(),
                    email: r.email.clone(),
                },
            ));
            Ok((
                shipped.clone(),
                vec![
                    Change::Put {
                        shipment: shipped,
                        expected: Some(Status::Preparing),
                    },
                    Change::Emit(event),
                ],
            ))
        }
        State::Shipped(_) => Ok((current.clone(), vec![])),
        State::Canceled { .. } => Err(ShipRefused::Canceled(order_id)),
    }
}

/// Who may read shipments and mark them shipped: the warehouse.
pub const SHIPPER: Role = Role::Warehouse;

/// The decision of every warehouse route, made before anything is read: the caller must
/// be in the [`SHIPPER`] group. Owning the order gives no right here: a customer cannot
/// read or ship a shipment, not even their own order's; neither can an analyst.
pub fn authorize(caller: &Caller) -> Result<(), AuthError> {
    caller.require(SHIPPER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventmart_shared::auth::GROUPS_CLAIM;
    use std::collections::HashMap;

    fn caller(groups: Option<&str>) -> Caller {
        let mut claims = HashMap::from([
            ("sub".to_owned(), "cust-42".to_owned()),
            ("email".to_owned(), "ada@example.com".to_owned()),
            ("email_verified".to_owned(), "true".to_owned()),
        ]);
        if let Some(g) = groups {
            claims.insert(GROUPS_CLAIM.to_owned(), g.to_owned());
        }
        Caller::from_claims(&claims).unwrap()
    }

    #[test]
    fn only_the_warehouse_handles_shipments() {
        for groups in ["[warehouse]", "[analysts warehouse]", "warehouse"] {
            assert_eq!(authorize(&caller(Some(groups))), Ok(()), "{groups}");
        }
        let refused = Err(AuthError::MissingRole(Role::Warehouse));
        // A customer (cust-42 placed the sample order): owning it is no right to ship it.
        assert_eq!(authorize(&caller(None)), refused);
        for groups in ["[]", "[analysts]", "[Warehouse]", "[warehouses]", ""] {
            assert_eq!(authorize(&caller(Some(groups))), refused, "{groups}");
        }
    }
}
