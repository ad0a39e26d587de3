//! The numbers the business asks for, over a date range: validation of the range,
//! one row per day (zeros where nothing happened), totals and rates. No AWS types.

use chrono::NaiveDate;
use eventmart_shared::events::Currency;
use eventmart_shared::http::FieldError;
use serde::Serialize;
use std::collections::BTreeMap;

/// The longest range served, in days (both ends included): a leap year.
pub const MAX_DAYS: i64 = 366;

/// A validated range of calendar days, both ends included, at most [`MAX_DAYS`] long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    from: NaiveDate,
    to: NaiveDate,
}

impl DateRange {
    /// Validates the `from` and `to` query parameters, naming every one that is wrong.
    pub fn parse(from: Option<&str>, to: Option<&str>) -> Result<Self, Vec<FieldError>> {
        let mut errors = vec![];
        let from = parse_param("from", from, &mut errors);
        let to = parse_param("to", to, &mut errors);
        let (Some(from), Some(to)) = (from, to) else {
            return Err(errors);
        };
        if from > to {
            return Err(vec![FieldError {
                field: "from".into(),
                message: format!("must be on or before to ({to})"),
            }]);
        }
        let range = Self { from, to };
        if range.day_count() > MAX_DAYS {
            return Err(vec![FieldError {
                field: "to".into(),
                message: format!(
                    "the range {from}..{to} spans {} days; at most {MAX_DAYS} are served",
                    range.day_count()
                ),
            }]);
        }
        Ok(range)
    }

    pub fn from(&self) -> NaiveDate {
        self.from
    }

    pub fn to(&self) -> NaiveDate {
        self.to
    }

    /// Number of days, both ends included.
    pub fn day_count(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    pub fn contains(&self, day: NaiveDate) -> bool {
        self.from <= day && day <= self.to
    }

    pub fn days(&self) -> impl Iterator<Item = NaiveDate> + use<> {
        let to = self.to;
        self.from.iter_days().take_while(move |d| *d <= to)
    }
}

/// A calendar date written exactly `YYYY-MM-DD`: chrono alone would also accept
/// `2024-2-3` or a signed year, which clients should not come to rely on.
pub fn parse_day(s: &str) -> Option<NaiveDate> {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

fn parse_param(name: &str, value: Option<&str>, errors: &mut Vec<FieldError>) -> Option<NaiveDate> {
    let message = match value {
        None | Some("") => "is required (a date YYYY-MM-DD)".to_owned(),
        Some(v) => match parse_day(v) {
            Some(d) => return Some(d),
            None => format!("must be a calendar date YYYY-MM-DD, got {v:?}"),
        },
    };
    errors.push(FieldError {
        field: name.into(),
        message,
    });
    None
}

/// Amounts in minor units, per currency.
pub type Amounts = BTreeMap<Currency, u64>;

/// How many digits a currency's minor unit has: the event contract's table, which the
/// dashboard is given in its config block.
pub use eventmart_shared::events::{DEFAULT_MINOR_DIGITS, MINOR_DIGITS};

/// The counters of one day, or their sum over days. Sums saturate at `u64::MAX`
/// rather than wrap: a clamped total is visibly absurd, a wrapped one is not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    pub orders_placed: u64,
    pub orders_canceled: u64,
    pub shipments: u64,
    pub sign_ups: u64,
    pub membership_cancellations: u64,
    /// Orders placed with a member discount of more than zero.
    pub discounted_orders: u64,
    /// What was paid for the orders placed: their totals, after any member discount.
    pub gross_revenue: Amounts,
    /// What the cancels refunded: the canceled orders' totals as paid.
    pub canceled_revenue: Amounts,
    /// Member discounts given on the orders placed, counted when given: a later cancel
    /// does not take them back (gross, like `gross_revenue`).
    pub discounts_given: Amounts,
}

impl Counters {
    pub fn add(&mut self, other: &Counters) {
        self.orders_placed = self.orders_placed.saturating_add(other.orders_placed);
        self.orders_canceled = self.orders_canceled.saturating_add(other.orders_canceled);
        self.shipments = self.shipments.saturating_add(other.shipments);
        self.sign_ups = self.sign_ups.saturating_add(other.sign_ups);
        self.membership_cancellations = self
            .membership_cancellations
            .saturating_add(other.membership_cancellations);
        self.discounted_orders = self
            .discounted_orders
            .saturating_add(other.discounted_orders);
        add_amounts(&mut self.gross_revenue, &other.gross_revenue);
        add_amounts(&mut self.canceled_revenue, &other.canceled_revenue);
        add_amounts(&mut self.discounts_given, &other.discounts_given);
    }
}

fn add_amounts(into: &mut Amounts, from: &Amounts) {
    for (cur, v) in from {
        let e = into.entry(*cur).or_default();
        *e = e.saturating_add(*v);
    }
}

/// The aggregates of one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    pub day: NaiveDate,
    #[serde(flatten)]
    pub counters: Counters,
}

/// `GET /analytics/daily`: one row per day of the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Daily {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub days: Vec<Day>,
}

impl Daily {
    /// One row per day of `range`, in order: the stored day where there is one, zeros
    /// where nothing was recorded. Stored days outside the range are left out.
    pub fn fill(range: DateRange, stored: Vec<Day>) -> Self {
        let mut by_day: BTreeMap<NaiveDate, Counters> = BTreeMap::new();
        for d in stored.into_iter().filter(|d| range.contains(d.day)) {
            by_day.entry(d.day).or_default().add(&d.counters);
        }
        let days = range
            .days()
            .map(|day| Day {
                day,
                counters: by_day.remove(&day).unwrap_or_default(),
            })
            .collect();
        Self {
            from: range.from,
            to: range.to,
            days,
        }
    }
}

/// `GET /analytics/summary`: the totals of a range and the rates derived from them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(flatten)]
    pub totals: Counters,
    /// Gross minus canceled revenue per currency (both as paid, after member discounts).
    /// Negative when the range cancels more than it sells (orders placed before the
    /// range, canceled in it). Discounts are not netted: `discountsGiven` stays gross.
    pub net_revenue: BTreeMap<Currency, i64>,
    /// Orders canceled in the range per order placed in the range; `None` without
    /// orders. A flow ratio, not a cohort's: it can exceed 1.
    pub cancellation_rate: Option<f64>,
    /// Membership cancellations in the range per sign-up in the range; `None` without
    /// sign-ups. Like the cancellation rate it compares flows over the same days (the
    /// store keeps no active-member count to divide by), so it can exceed 1.
    pub churn_rate: Option<f64>,
}

impl Summary {
    pub fn of(daily: &Daily) -> Self {
        let mut totals = Counters::default();
        for d in &daily.days {
            totals.add(&d.counters);
        }
        let mut net_revenue = BTreeMap::new();
        for cur in totals
            .gross_revenue
            .keys()
            .chain(totals.canceled_revenue.keys())
        {
            let gross = i128::from(totals.gross_revenue.get(cur).copied().unwrap_or(0));
            let canceled = i128::from(totals.canceled_revenue.get(cur).copied().unwrap_or(0));
            let net = (gross - canceled).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            // Clamped into range just above, so the conversion cannot fail.
            net_revenue.insert(*cur, i64::try_from(net).unwrap_or_default());
        }
        Self {
            from: daily.from,
            to: daily.to,
            cancellation_rate: rate(totals.orders_canceled, totals.orders_placed),
            churn_rate: rate(totals.membership_cancellations, totals.sign_ups),
            net_revenue,
            totals,
        }
    }
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_day(s).unwrap()
    }

    fn range(from: &str, to: &str) -> Result<DateRange, Vec<FieldError>> {
        DateRange::parse(Some(from), Some(to))
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    fn cur(s: &str) -> Currency {
        s.parse().unwrap()
    }

    #[test]
    fn a_valid_range_has_its_days() {
        let r = range("2024-02-27", "2024-03-01").unwrap();
        assert_eq!(r.day_count(), 4);
        let days: Vec<_> = r.days().map(|d| d.to_string()).collect();
        assert_eq!(
            days,
            ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"]
        );
        assert_eq!(range("2023-02-28", "2023-03-01").unwrap().day_count(), 2);
    }

    #[test]
    fn one_day_is_a_range() {
        let r = range("2025-06-01", "2025-06-01").unwrap();
        assert_eq!(r.day_count(), 1);
        assert_eq!(r.days().count(), 1);
    }

    #[test]
    fn february_29_exists_only_in_leap_years() {
        assert!(parse_day("2024-02-29").is_some());
        assert!(parse_day("2000-02-29").is_some());
        assert!(parse_day("2023-02-29").is_none());
        assert!(parse_day("1900-02-29").is_none());
        let e = range("2023-02-29", "2023-03-01").unwrap_err();
        assert_eq!(fields(&e), ["from"]);
    }

    #[test]
    fn a_leap_year_fits_and_a_day_more_does_not() {
        assert_eq!(range("2024-01-01", "2024-12-31").unwrap().day_count(), 366);
        assert_eq!(range("2023-01-01", "2024-01-01").unwrap().day_count(), 366);
        let e = range("2023-01-01", "2024-01-02").unwrap_err();
        assert_eq!(fields(&e), ["to"]);
        assert!(e[0].message.contains("367 days"), "{}", e[0].message);
        let e = range("2024-01-01", "2025-01-01").unwrap_err();
        assert_eq!(fields(&e), ["to"]);
    }

    #[test]
    fn from_after_to_is_named() {
        let e = range("2024-03-02", "2024-03-01").unwrap_err();
        assert_eq!(fields(&e), ["from"]);
        assert!(e[0].message.contains("2024-03-01"));
    }

    #[test]
    fn bad_formats_are_rejected_and_every_bad_parameter_named() {
        for bad in [
            "2024-2-03",
            "2024-02-3",
            "24-02-03",
            "+2024-02-03",
            "2024/02/03",
            "2024-13-01",
            "2024-00-10",
            "2024-04-31",
            "2024-02-03T00:00:00Z",
            " 2024-02-03",
            "２０２４-02-03",
            "today",
        ] {
            assert!(parse_day(bad).is_none(), "{bad}");
            let e = range(bad, "2024-02-04").unwrap_err();
            assert_eq!(fields(&e), ["from"], "{bad}");
        }
        let e = DateRange::parse(None, Some("nope")).unwrap_err();
        assert_eq!(fields(&e), ["from", "to"]);
        assert!(e[0].message.contains("required"));
        assert!(e[1].message.contains("YYYY-MM-DD"));
        let e = DateRange::parse(Some(""), None).unwrap_err();
        assert_eq!(fields(&e), ["from", "to"]);
    }

    fn day(s: &str, placed: u64, gross: &[(&str, u64)]) -> Day {
        Day {
            day: d(s),
            counters: Counters {
                orders_placed: placed,
                gross_revenue: gross.iter().map(|(c, v)| (cur(c), *v)).collect(),
                ..Counters::default()
            },
        }
    }

    #[test]
    fn missing_days_are_zero_rows_and_outside_days_are_dropped() {
        let r = range("2024-02-28", "2024-03-02").unwrap();
        let daily = Daily::fill(
            r,
            vec![
                day("2024-03-01", 2, &[("EUR", 100)]),
                day("2024-02-28", 1, &[]),
                day("2024-03-03", 9, &[]),
            ],
        );
        let rows: Vec<(String, u64)> = daily
            .days
            .iter()
            .map(|d| (d.day.to_string(), d.counters.orders_placed))
            .collect();
        assert_eq!(
            rows,
            [
                ("2024-02-28".to_owned(), 1),
                ("2024-02-29".to_owned(), 0),
                ("2024-03-01".to_owned(), 2),
                ("2024-03-02".to_owned(), 0),
            ]
        );
        assert_eq!(daily.days[1].counters, Counters::default());
    }

    #[test]
    fn the_summary_sums_several_currencies_and_nets_them() {
        let r = range("2024-01-01", "2024-01-03").unwrap();
        let mut a = day("2024-01-01", 4, &[("EUR", 1000), ("USD", 500)]);
        a.counters.orders_canceled = 1;
        a.counters.canceled_revenue = [(cur("EUR"), 250)].into();
        a.counters.sign_ups = 4;
        a.counters.membership_cancellations = 1;
        a.counters.shipments = 3;
        let mut b = day("2024-01-03", 4, &[("EUR", 1)]);
        // A cancel of an order placed before the range: more canceled than sold.
        b.counters.canceled_revenue = [(cur("GBP"), 700)].into();
        b.counters.orders_canceled = 1;
        a.counters.discounted_orders = 2;
        a.counters.discounts_given = [(cur("EUR"), 100), (cur("USD"), 25)].into();
        b.counters.discounted_orders = 1;
        b.counters.discounts_given = [(cur("EUR"), 1149), (cur("JPY"), 150)].into();
        let s = Summary::of(&Daily::fill(r, vec![a, b]));
        assert_eq!(s.totals.orders_placed, 8);
        assert_eq!(s.totals.orders_canceled, 2);
        assert_eq!(s.totals.shipments, 3);
        assert_eq!(s.totals.gross_revenue[&cur("EUR")], 1001);
        assert_eq!(s.totals.gross_revenue[&cur("USD")], 500);
        assert_eq!(s.net_revenue[&cur("EUR")], 751);
        assert_eq!(s.net_revenue[&cur("USD")], 500);
        assert_eq!(s.net_revenue[&cur("GBP")], -700);
        assert_eq!(s.cancellation_rate, Some(0.25));
        assert_eq!(s.churn_rate, Some(0.25));
        assert_eq!(s.totals.discounted_orders, 3);
        // Discounts are their own figure: net revenue does not move with them.
        assert_eq!(
            s.totals.discounts_given,
            [(cur("EUR"), 1249), (cur("JPY"), 150), (cur("USD"), 25)].into()
        );
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["discountedOrders"], 3);
        assert_eq!(
            json["discountsGiven"],
            serde_json::json!({"EUR": 1249, "JPY": 150, "USD": 25})
        );
        assert_eq!(json["grossRevenue"]["EUR"], 1001);
        assert_eq!(json["netRevenue"]["GBP"], -700);
        assert_eq!(json["membershipCancellations"], 1);
        assert_eq!(json["from"], "2024-01-01");
    }

    #[test]
    fn rates_are_null_without_a_denominator() {
        let r = range("2024-01-01", "2024-01-02").unwrap();
        let mut a = day("2024-01-01", 0, &[]);
        a.counters.orders_canceled = 3;
        a.counters.membership_cancellations = 2;
        let s = Summary::of(&Daily::fill(r, vec![a]));
        assert_eq!(s.cancellation_rate, None);
        assert_eq!(s.churn_rate, None);
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["cancellationRate"].is_null());
        assert!(json["churnRate"].is_null());
        assert_eq!(json["netRevenue"], serde_json::json!({}));
        assert_eq!(json["discountedOrders"], 0);
        assert_eq!(json["discountsGiven"], serde_json::json!({}));
    }

    #[test]
    fn sums_saturate_instead_of_overflowing() {
        let r = range("2024-01-01", "2024-01-02").unwrap();
        let mut a = day("2024-01-01", u64::MAX, &[("EUR", u64::MAX)]);
        a.counters.sign_ups = u64::MAX;
        let mut b = day("2024-01-02", 5, &[("EUR", 5)]);
        b.counters.canceled_revenue = [(cur("USD"), u64::MAX)].into();
        b.counters.sign_ups = 1;
        a.counters.discounted_orders = u64::MAX;
        a.counters.discounts_given = [(cur("EUR"), u64::MAX)].into();
        b.counters.discounted_orders = 1;
        b.counters.discounts_given = [(cur("EUR"), 1)].into();
        let s = Summary::of(&Daily::fill(r, vec![a, b]));
        assert_eq!(s.totals.orders_placed, u64::MAX);
        assert_eq!(s.totals.gross_revenue[&cur("EUR")], u64::MAX);
        assert_eq!(s.net_revenue[&cur("EUR")], i64::MAX);
        assert_eq!(s.net_revenue[&cur("USD")], i64::MIN);
        assert_eq!(s.totals.sign_ups, u64::MAX);
        assert_eq!(s.totals.discounted_orders, u64::MAX);
        assert_eq!(s.totals.discounts_given[&cur("EUR")], u64::MAX);
    }
}
