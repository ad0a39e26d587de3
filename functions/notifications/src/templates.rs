//! The emails, rendered from the text templates under `templates/`.
//!
//! A template's first line is the subject, the rest is the plain-text body. Placeholders
//! are `{{name}}`, replaced in one pass: a value that itself contains `{{...}}` (a
//! customer's cancel reason) is copied as it is, never expanded.

use crate::domain::{FulfillmentOutcome, Mail};
use eventmart_shared::events::{
    Currency, MembershipCanceled, MembershipSignedUp, Money, OrderCanceled, OrderPlaced,
    OrderShipped, Plan,
};

/// Which email an event produces; its name is what the message record stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    OrderPlaced,
    OrderCanceled,
    OrderShipped,
    MembershipSignedUp,
    MembershipCanceled,
}

impl Template {
    pub fn name(self) -> &'static str {
        match self {
            Template::OrderPlaced => "order-placed",
            Template::OrderCanceled => "order-canceled",
            Template::OrderShipped => "order-shipped",
            Template::MembershipSignedUp => "membership-signed-up",
            Template::MembershipCanceled => "membership-canceled",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Template::OrderPlaced => include_str!("../templates/order_placed.txt"),
            Template::OrderCanceled => include_str!("../templates/order_canceled.txt"),
            Template::OrderShipped => include_str!("../templates/order_shipped.txt"),
            Template::MembershipSignedUp => include_str!("../templates/membership_signed_up.txt"),
            Template::MembershipCanceled => include_str!("../templates/membership_canceled.txt"),
        }
    }

    /// Renders the template; placeholders without a value are left visible so that a
    /// unit test catches them.
    fn render(self, values: &[(&str, String)]) -> Rendered {
        let source = self.source();
        let (subject, body) = source.split_once('\n').unwrap_or((source, ""));
        Rendered {
            template: self,
            subject: fill(subject.trim(), values),
            body: fill(body, values),
        }
    }
}

/// A rendered email: what SES sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub template: Template,
    pub subject: String,
    pub body: String,
}

/// Replaces every `{{name}}` in one left-to-right pass.
fn fill(text: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 2 + end + 2]),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Digits after the decimal point (ISO 4217 minor units). Most currencies have 2.
pub fn minor_digits(currency: Currency) -> u32 {
    match currency.as_str() {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// `11499 EUR` minor units as `114.99 EUR`; `1500 JPY` as `1500 JPY`.
pub fn format_money(amount_minor: u64, currency: Currency) -> String {
    let digits = minor_digits(currency);
    if digits == 0 {
        return format!("{amount_minor} {currency}");
    }
    let scale = 10u64.pow(digits);
    format!(
        "{}.{:0width$} {currency}",
        amount_minor / scale,
        amount_minor % scale,
        width = digits as usize
    )
}

fn money(m: &Money) -> String {
    format_money(m.amount_minor.get(), m.currency)
}

fn plan(p: Plan) -> String {
    match p {
        Plan::Monthly => "monthly".into(),
        Plan::Annual => "annual".into(),
    }
}

/// The email `mail` asks for; the cancel email states `outcome`, the fulfillment outcome
/// known when it is sent.
pub fn render(mail: &Mail, outcome: Option<FulfillmentOutcome>) -> Rendered {
    match mail {
        Mail::OrderPlaced(data) => order_placed(data),
        Mail::OrderCanceled(data) => order_canceled(data, outcome),
        Mail::OrderShipped(data) => order_shipped(data),
        Mail::MembershipSignedUp(data) => membership_signed_up(data),
        Mail::MembershipCanceled(data) => membership_canceled(data),
    }
}

pub fn order_placed(data: &OrderPlaced) -> Rendered {
    let lines = data
        .items
        .iter()
        .map(|l| {
            // Within range: the event's total, the sum of these products, was validated.
            let line_total = l.unit_price.amount_minor.get() * u64::from(l.quantity.get());
            format!(
                "  {} x {} at {} = {}",
                l.quantity.get(),
                l.sku,
                money(&l.unit_price),
                format_money(line_total, l.unit_price.currency)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Template::OrderPlaced.render(&[
        ("orderId", data.order_id.to_string()),
        ("lines", lines),
        ("total", money(&data.total)),
    ])
}

/// The paragraph that says what happened to the shipment, as far as it is known.
fn outcome_text(outcome: Option<FulfillmentOutcome>, total: &str) -> String {
    match outcome {
        Some(FulfillmentOutcome::Canceled) => format!(
            "Your shipment was stopped before it left our warehouse, so nothing will be \
             delivered. Your refund of {total} is on its way."
        ),
        Some(FulfillmentOutcome::Rejected) => format!(
            "Your parcel had already left the warehouse when your cancellation reached us, so \
             we could not stop it. When it arrives, please return it unopened and we will \
             refund {total} as soon as it is back with us."
        ),
        None => format!(
            "We are stopping your shipment now. If it has already left our warehouse, please \
             return the parcel when it arrives; either way you will get your refund of {total}."
        ),
    }
}

pub fn order_canceled(data: &OrderCanceled, outcome: Option<FulfillmentOutcome>) -> Rendered {
    let total = money(&data.total);
    Template::OrderCanceled.render(&[
        ("orderId", data.order_id.to_string()),
        ("reason", data.reason.to_string()),
        ("outcome", outcome_text(outcome, &total)),
        ("total", total),
    ])
}

pub fn order_shipped(data: &OrderShipped) -> Rendered {
    Template::OrderShipped.render(&[("orderId", data.order_id.to_string())])
}

pub fn membership_signed_up(data: &MembershipSignedUp) -> Rendered {
    Template::MembershipSignedUp.render(&[
        ("plan", plan(data.plan)),
        ("membershipId", data.membership_id.to_string()),
    ])
}

pub fn membership_canceled(data: &MembershipCanceled) -> Rendered {
    Template::MembershipCanceled.render(&[
        ("plan", plan(data.plan)),
        ("membershipId", data.membership_id.to_string()),
        ("reason", data.reason.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cur(c: &str) -> Currency {
        c.parse().unwrap()
    }

    fn placed(currency: &str, unit: u64) -> OrderPlaced {
        serde_json::from_value(json!({
            "orderId": "0193b3a4-1111-7aaa-8bbb-000000000001",
            "customerId": "cust-42",
            "email": "ada@example.com",
            "items": [
                {"sku": "SHOE-RUN-42", "quantity": 1, "unitPrice": {"amountMinor": unit, "currency": currency}},
                {"sku": "SOCK-3PK", "quantity": 2, "unitPrice": {"amountMinor": 1250, "currency": currency}}
            ],
            "total": {"amountMinor": unit + 2500, "currency": currency}
        }))
        .unwrap()
    }

    fn canceled(reason: &str) -> OrderCanceled {
        serde_json::from_value(json!({
            "orderId": "0193b3a4-1111-7aaa-8bbb-000000000001",
            "customerId": "cust-42",
            "email": "ada@example.com",
            "reason": reason,
            "total": {"amountMinor": 11499, "currency": "EUR"}
        }))
        .unwrap()
    }

    fn assert_complete(r: &Rendered) {
        assert!(!r.subject.contains("{{"), "{}", r.subject);
        assert!(!r.body.contains("{{"), "{}", r.body);
        assert!(!r.body.contains("ada@example.com"));
    }

    #[test]
    fn money_uses_the_currency_minor_units() {
        assert_eq!(format_money(11499, cur("EUR")), "114.99 EUR");
        assert_eq!(format_money(5, cur("USD")), "0.05 USD");
        assert_eq!(format_money(0, cur("GBP")), "0.00 GBP");
        assert_eq!(format_money(1500, cur("JPY")), "1500 JPY");
        assert_eq!(format_money(1500, cur("KRW")), "1500 KRW");
        assert_eq!(format_money(12345, cur("BHD")), "12.345 BHD");
        assert_eq!(format_money(7, cur("KWD")), "0.007 KWD");
        assert_eq!(format_money(1000, cur("TND")), "1.000 TND");
    }

    #[test]
    fn order_placed_lists_lines_and_total() {
        let r = order_placed(&placed("EUR", 8999));
        assert_eq!(r.template.name(), "order-placed");
        assert_eq!(
            r.subject,
            "Your Eventmart order 0193b3a4-1111-7aaa-8bbb-000000000001 is confirmed"
        );
        assert!(
            r.body
                .contains("  1 x SHOE-RUN-42 at 89.99 EUR = 89.99 EUR\n")
        );
        assert!(r.body.contains("  2 x SOCK-3PK at 12.50 EUR = 25.00 EUR\n"));
        assert!(r.body.contains("Total: 114.99 EUR\n"));
        assert_complete(&r);
    }

    #[test]
    fn order_placed_in_yen_has_no_decimals() {
        let r = order_placed(&placed("JPY", 9000));
        assert!(r.body.contains("  2 x SOCK-3PK at 1250 JPY = 2500 JPY\n"));
        assert!(r.body.contains("Total: 11500 JPY\n"));
    }

    #[test]
    fn order_canceled_states_each_outcome() {
        let stopped = order_canceled(&canceled("wrong size"), Some(FulfillmentOutcome::Canceled));
        assert!(stopped.body.contains("Your shipment was stopped"));
        assert!(stopped.body.contains("Your refund of 114.99 EUR"));
        assert!(stopped.body.contains("You told us: \"wrong size\"."));
        let left = order_canceled(&canceled("wrong size"), Some(FulfillmentOutcome::Rejected));
        assert!(
            left.body
                .contains("Your parcel had already left the warehouse")
        );
        assert!(left.body.contains("please return it"));
        let pending = order_canceled(&canceled("wrong size"), None);
        assert!(pending.body.contains("We are stopping your shipment now."));
        for r in [&stopped, &left, &pending] {
            assert_eq!(
                r.subject,
                "Your Eventmart order 0193b3a4-1111-7aaa-8bbb-000000000001 is canceled"
            );
            assert_complete(r);
        }
    }

    #[test]
    fn placeholders_in_values_are_not_expanded() {
        let r = order_canceled(&canceled("see {{total}} and {{orderId}"), None);
        assert!(
            r.body
                .contains("You told us: \"see {{total}} and {{orderId}\".")
        );
    }

    #[test]
    fn shipped_and_membership_emails() {
        let shipped: OrderShipped = serde_json::from_value(json!({
            "orderId": "0193b3a4-1111-7aaa-8bbb-000000000001",
            "customerId": "cust-42", "email": "ada@example.com"
        }))
        .unwrap();
        let r = order_shipped(&shipped);
        assert!(r.subject.ends_with("is on its way"));
        assert_complete(&r);

        let signed: MembershipSignedUp = serde_json::from_value(json!({
            "membershipId": "0193b3a4-2222-7aaa-8bbb-000000000002",
            "customerId": "cust-42", "email": "ada@example.com", "plan": "annual"
        }))
        .unwrap();
        let r = membership_signed_up(&signed);
        assert_eq!(r.subject, "Welcome to your Eventmart annual membership");
        assert!(r.body.contains("Your annual membership is active"));
        assert_complete(&r);

        let gone: MembershipCanceled = serde_json::from_value(json!({
            "membershipId": "0193b3a4-2222-7aaa-8bbb-000000000002",
            "customerId": "cust-42", "email": "ada@example.com", "plan": "monthly",
            "reason": "Too expensive"
        }))
        .unwrap();
        let r = membership_canceled(&gone);
        assert_eq!(r.subject, "We are sorry to see you go");
        assert!(r.body.contains("your monthly membership"));
        assert!(r.body.contains("\"Too expensive\""));
        assert!(r.body.contains("Please come back soon"));
        assert_complete(&r);
    }

    #[test]
    fn fill_leaves_unknown_and_unclosed_placeholders() {
        assert_eq!(
            fill("a {{x}} {{y}} {{z", &[("x", "1".into())]),
            "a 1 {{y}} {{z"
        );
    }
}
