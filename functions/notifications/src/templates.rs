//! The emails, rendered from the text templates under `templates/`.
//!
//! A template's first line is the subject, the rest is the plain-text body. Placeholders
//! are `{{name}}`, replaced in one pass: a value that itself contains `{{...}}` (a
//! customer's cancel reason) is copied as it is, never expanded.

use crate::domain::{FulfillmentOutcome, Mail};
use eventmart_shared::events::{
    BasisPoints, Currency, MembershipCanceled, MembershipSignedUp, Money, OrderCanceled,
    OrderPlaced, OrderShipped, Pricing,
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

/// `11499 EUR` minor units as `114.99 EUR`; `1500 JPY` as `1500 JPY`; `7 KWD` as
/// `0.007 KWD`: the digits after the point are the currency's
/// ([`Currency::minor_digits`], the contract's table).
pub fn format_money(amount_minor: u64, currency: Currency) -> String {
    let digits = currency.minor_digits();
    if digits == 0 {
        return format!("{amount_minor} {currency}");
    }
    let scale = 10u64.pow(u32::from(digits));
    format!(
        "{}.{:0width$} {currency}",
        amount_minor / scale,
        amount_minor % scale,
        width = usize::from(digits)
    )
}

fn money(m: &Money) -> String {
    format_money(m.amount_minor.get(), m.currency)
}

/// A rate as people read it, exactly: 500 basis points as `5%`, 1000 as `10%`, 250 as
/// `2.5%`, 1 as `0.01%` (no trailing zeros, never rounded).
pub fn percent(rate: BasisPoints) -> String {
    let bps = rate.get();
    let (whole, hundredths) = (bps / 100, bps % 100);
    if hundredths == 0 {
        return format!("{whole}%");
    }
    let fraction = format!("{hundredths:02}");
    format!("{whole}.{}%", fraction.trim_end_matches('0'))
}

/// "a monthly", "an annual".
fn with_article(word: &str) -> String {
    let article = if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {word}")
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
            // Within range: the event's subtotal, the sum of these products, was validated.
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
        ("amounts", amounts(&data.pricing())),
    ])
}

/// The subtotal, the member discount when the order had one, and the total to pay, one
/// line each. A non-member's order has no discount line. A member's order whose discount
/// rounded down to nothing (the rate of a very small subtotal is less than one minor
/// unit) says so rather than showing a discount of zero.
fn amounts(pricing: &Pricing) -> String {
    let mut out = vec![format!("Subtotal: {}", money(&pricing.subtotal))];
    if let Some(m) = pricing.membership {
        let rate = percent(m.discount_basis_points);
        let label = format!("Member discount ({} plan, {rate})", m.plan.as_str());
        if pricing.discount.amount_minor.get() == 0 {
            out.push(format!(
                "{label}: none on this order ({rate} of it is less than {})",
                format_money(1, pricing.discount.currency)
            ));
        } else {
            out.push(format!("{label}: \u{2212}{}", money(&pricing.discount)));
        }
    }
    out.push(format!("Total: {}", money(&pricing.total)));
    out.join("\n")
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

/// The welcome email; the discount is the plan's in the catalog
/// ([`Plan::discount`](eventmart_shared::events::Plan::discount)).
pub fn membership_signed_up(data: &MembershipSignedUp) -> Rendered {
    let plan = data.plan.as_str();
    Template::MembershipSignedUp.render(&[
        ("plan", plan.into()),
        ("aPlan", with_article(plan)),
        ("discount", percent(data.plan.discount())),
        ("membershipId", data.membership_id.to_string()),
    ])
}

pub fn membership_canceled(data: &MembershipCanceled) -> Rendered {
    Template::MembershipCanceled.render(&[
        ("plan", data.plan.as_str().into()),
        ("membershipId", data.membership_id.to_string()),
        ("reason", data.reason.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventmart_shared::events::{Plan, Validate};
    use serde_json::{Value, json};

    const ORDER: &str = "0193b3a4-1111-7aaa-8bbb-000000000001";

    fn cur(c: &str) -> Currency {
        c.parse().unwrap()
    }

    fn m(amount: u64, currency: &str) -> Value {
        json!({"amountMinor": amount, "currency": currency})
    }

    /// An order of one SHOE-RUN-42 at `unit` and two SOCK-3PK at 1250 minor units, priced
    /// by the contract's rule for a member of `plan` (or a non-member), and valid.
    fn placed(currency: &str, unit: u64, plan: Option<Plan>) -> OrderPlaced {
        let subtotal = unit + 2500;
        let rate = plan.map_or(0, |p| u64::from(p.discount().get()));
        let discount = subtotal * rate / 10_000;
        let mut data = json!({
            "orderId": ORDER,
            "customerId": "cust-42",
            "email": "ada@example.com",
            "items": [
                {"sku": "SHOE-RUN-42", "quantity": 1, "unitPrice": m(unit, currency)},
                {"sku": "SOCK-3PK", "quantity": 2, "unitPrice": m(1250, currency)}
            ],
            "subtotal": m(subtotal, currency),
            "discount": m(discount, currency),
            "total": m(subtotal - discount, currency),
        });
        if let Some(p) = plan {
            data["membership"] = json!({
                "membershipId": "0193b3a4-2222-7aaa-8bbb-000000000002",
                "plan": p.as_str(),
                "discountBasisPoints": p.discount().get(),
            });
        }
        let order: OrderPlaced = serde_json::from_value(data).unwrap();
        order.validate().expect("a valid order");
        order
    }

    fn canceled(reason: &str) -> OrderCanceled {
        serde_json::from_value(json!({
            "orderId": ORDER,
            "customerId": "cust-42",
            "email": "ada@example.com",
            "reason": reason,
            "total": m(10350, "EUR")
        }))
        .unwrap()
    }

    fn assert_complete(r: &Rendered) {
        assert!(!r.subject.contains("{{"), "{}", r.subject);
        assert!(!r.body.contains("{{"), "{}", r.body);
        assert!(!r.body.contains("ada@example.com"));
    }

    /// The body's lines from the first order line to the total, inclusive.
    fn summary(r: &Rendered) -> Vec<&str> {
        let lines: Vec<&str> = r.body.lines().collect();
        let from = lines.iter().position(|l| l.starts_with("  ")).unwrap();
        let to = lines.iter().position(|l| l.starts_with("Total: ")).unwrap();
        lines[from..=to].to_vec()
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
        // Every currency of the contract's table, and the default.
        for (code, digits) in eventmart_shared::events::MINOR_DIGITS {
            let shown = format_money(1, cur(code));
            let expected = match digits {
                0 => format!("1 {code}"),
                d => format!("0.{:0>width$} {code}", 1, width = usize::from(*d)),
            };
            assert_eq!(shown, expected);
        }
        assert_eq!(format_money(1, cur("EUR")), "0.01 EUR");
    }

    #[test]
    fn percentages_are_exact() {
        for (bps, shown) in [
            (0, "0%"),
            (1, "0.01%"),
            (10, "0.1%"),
            (99, "0.99%"),
            (250, "2.5%"),
            (500, "5%"),
            (1000, "10%"),
            (1050, "10.5%"),
            (1234, "12.34%"),
            (10_000, "100%"),
        ] {
            assert_eq!(percent(BasisPoints::new(bps)), shown, "{bps}");
        }
        assert_eq!(percent(Plan::Monthly.discount()), "5%");
        assert_eq!(percent(Plan::Annual.discount()), "10%");
    }

    #[test]
    fn a_members_order_in_euros_shows_subtotal_discount_and_total() {
        let r = order_placed(&placed("EUR", 8999, Some(Plan::Annual)));
        assert_eq!(r.template.name(), "order-placed");
        assert_eq!(
            r.subject,
            format!("Your Eventmart order {ORDER} is confirmed")
        );
        assert_eq!(
            r.body,
            format!(
                "Hello,\n\
                 \n\
                 thank you for your order. Here is what you bought:\n\
                 \n  1 x SHOE-RUN-42 at 89.99 EUR = 89.99 EUR\n\
                 \x20 2 x SOCK-3PK at 12.50 EUR = 25.00 EUR\n\
                 \n\
                 Subtotal: 114.99 EUR\n\
                 Member discount (annual plan, 10%): \u{2212}11.49 EUR\n\
                 Total: 103.50 EUR\n\
                 \n\
                 We will write again as soon as your parcel leaves our warehouse.\n\
                 \n\
                 Order reference: {ORDER}\n\
                 \n\
                 The Eventmart team\n"
            )
        );
        assert_complete(&r);
    }

    #[test]
    fn a_non_members_order_in_euros_has_no_discount_line() {
        let r = order_placed(&placed("EUR", 8999, None));
        assert_eq!(
            summary(&r),
            [
                "  1 x SHOE-RUN-42 at 89.99 EUR = 89.99 EUR",
                "  2 x SOCK-3PK at 12.50 EUR = 25.00 EUR",
                "",
                "Subtotal: 114.99 EUR",
                "Total: 114.99 EUR",
            ]
        );
        assert!(!r.body.contains("discount"), "{}", r.body);
        assert_complete(&r);
    }

    #[test]
    fn orders_in_yen_have_no_decimals() {
        let member = order_placed(&placed("JPY", 8999, Some(Plan::Annual)));
        assert_eq!(
            summary(&member),
            [
                "  1 x SHOE-RUN-42 at 8999 JPY = 8999 JPY",
                "  2 x SOCK-3PK at 1250 JPY = 2500 JPY",
                "",
                "Subtotal: 11499 JPY",
                "Member discount (annual plan, 10%): \u{2212}1149 JPY",
                "Total: 10350 JPY",
            ]
        );
        let other = order_placed(&placed("JPY", 9000, None));
        assert_eq!(
            summary(&other),
            [
                "  1 x SHOE-RUN-42 at 9000 JPY = 9000 JPY",
                "  2 x SOCK-3PK at 1250 JPY = 2500 JPY",
                "",
                "Subtotal: 11500 JPY",
                "Total: 11500 JPY",
            ]
        );
        for r in [&member, &other] {
            assert_complete(r);
        }
    }

    #[test]
    fn orders_in_dinars_have_three_decimals() {
        // 5 % of 11.499 is 0.57495: 0.574 off, rounded down.
        let member = order_placed(&placed("KWD", 8999, Some(Plan::Monthly)));
        assert_eq!(
            summary(&member),
            [
                "  1 x SHOE-RUN-42 at 8.999 KWD = 8.999 KWD",
                "  2 x SOCK-3PK at 1.250 KWD = 2.500 KWD",
                "",
                "Subtotal: 11.499 KWD",
                "Member discount (monthly plan, 5%): \u{2212}0.574 KWD",
                "Total: 10.925 KWD",
            ]
        );
        let other = order_placed(&placed("KWD", 8999, None));
        assert_eq!(
            summary(&other),
            [
                "  1 x SHOE-RUN-42 at 8.999 KWD = 8.999 KWD",
                "  2 x SOCK-3PK at 1.250 KWD = 2.500 KWD",
                "",
                "Subtotal: 11.499 KWD",
                "Total: 11.499 KWD",
            ]
        );
        for r in [&member, &other] {
            assert_complete(r);
        }
    }

    #[test]
    fn a_member_discount_that_rounds_to_nothing_is_not_shown_as_zero() {
        // 5 % of 0.19 EUR is less than a cent.
        let mut order = placed("EUR", 0, Some(Plan::Monthly));
        let data = json!({"sku": "GUM", "quantity": 1, "unitPrice": m(19, "EUR")});
        order.items = vec![serde_json::from_value(data).unwrap()];
        order.subtotal = serde_json::from_value(m(19, "EUR")).unwrap();
        order.discount = serde_json::from_value(m(0, "EUR")).unwrap();
        order.total = order.subtotal;
        order.validate().expect("a valid order");
        let r = order_placed(&order);
        assert_eq!(
            summary(&r),
            [
                "  1 x GUM at 0.19 EUR = 0.19 EUR",
                "",
                "Subtotal: 0.19 EUR",
                "Member discount (monthly plan, 5%): none on this order (5% of it is less than 0.01 EUR)",
                "Total: 0.19 EUR",
            ]
        );
        assert!(!r.body.contains("0.00"), "{}", r.body);
    }

    #[test]
    fn order_canceled_states_the_refund_and_each_outcome() {
        let stopped = order_canceled(&canceled("wrong size"), Some(FulfillmentOutcome::Canceled));
        assert!(stopped.body.contains("Your shipment was stopped"));
        assert!(stopped.body.contains("Your refund of 103.50 EUR"));
        assert!(stopped.body.contains("You told us: \"wrong size\"."));
        let left = order_canceled(&canceled("wrong size"), Some(FulfillmentOutcome::Rejected));
        assert!(
            left.body
                .contains("Your parcel had already left the warehouse")
        );
        assert!(left.body.contains("please return it"));
        assert!(left.body.contains("we will refund 103.50 EUR"));
        let pending = order_canceled(&canceled("wrong size"), None);
        assert!(pending.body.contains("We are stopping your shipment now."));
        assert!(pending.body.contains("your refund of 103.50 EUR."));
        for r in [&stopped, &left, &pending] {
            assert_eq!(
                r.subject,
                format!("Your Eventmart order {ORDER} is canceled")
            );
            assert!(
                r.body
                    .lines()
                    .any(|l| l == "Refund: 103.50 EUR, the amount you paid."),
                "{}",
                r.body
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
            "orderId": ORDER,
            "customerId": "cust-42", "email": "ada@example.com"
        }))
        .unwrap();
        let r = order_shipped(&shipped);
        assert!(r.subject.ends_with("is on its way"));
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
    fn the_welcome_email_states_the_plans_discount() {
        for (plan, subject, active, saving) in [
            (
                Plan::Annual,
                "Welcome to your Eventmart annual membership",
                "welcome to Eventmart! Your annual membership is active from today.",
                "As an annual member you save 10% on every order.",
            ),
            (
                Plan::Monthly,
                "Welcome to your Eventmart monthly membership",
                "welcome to Eventmart! Your monthly membership is active from today.",
                "As a monthly member you save 5% on every order.",
            ),
        ] {
            let signed: MembershipSignedUp = serde_json::from_value(json!({
                "membershipId": "0193b3a4-2222-7aaa-8bbb-000000000002",
                "customerId": "cust-42", "email": "ada@example.com", "plan": plan.as_str()
            }))
            .unwrap();
            let r = membership_signed_up(&signed);
            assert_eq!(r.subject, subject);
            let lines: Vec<&str> = r.body.lines().collect();
            assert!(lines.contains(&active), "{}", r.body);
            assert!(lines.contains(&saving), "{}", r.body);
            assert!(lines.contains(&"Membership reference: 0193b3a4-2222-7aaa-8bbb-000000000002"));
            assert_complete(&r);
        }
        assert_eq!(Plan::ALL.len(), 2, "every plan is covered above");
    }

    #[test]
    fn fill_leaves_unknown_and_unclosed_placeholders() {
        assert_eq!(
            fill("a {{x}} {{y}} {{z", &[("x", "1".into())]),
            "a 1 {{y}} {{z"
        );
    }
}
