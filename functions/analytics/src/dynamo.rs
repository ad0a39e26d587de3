//! The DynamoDB adapter of [`DailyStore`] (AnalyticsDailyTable: partition
//! `series = "daily"`, sort key `day = YYYY-MM-DD`).

use crate::domain::{Amounts, Counters, DateRange, Day, parse_day};
use crate::ports::{DailyStore, StoreError};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use eventmart_shared::dynamo::{Item, s};

/// The partition every daily aggregate lives in.
pub const SERIES: &str = "daily";

/// [`DailyStore`] over the AnalyticsDailyTable.
#[derive(Debug, Clone)]
pub struct DynamoDailyStore {
    client: Client,
    table: String,
    page_size: Option<i32>,
}

impl DynamoDailyStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            page_size: None,
        }
    }

    /// Caps the items per Query page. DynamoDB pages at 1 MB anyway; a cap bounds each
    /// response further (and lets tests see pagination without megabytes of data).
    pub fn with_page_size(mut self, items: i32) -> Self {
        self.page_size = Some(items);
        self
    }
}

impl DailyStore for DynamoDailyStore {
    async fn days(&self, range: DateRange) -> Result<Vec<Day>, StoreError> {
        let mut out = vec![];
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#s = :s AND #d BETWEEN :from AND :to")
                .expression_attribute_names("#s", "series")
                .expression_attribute_names("#d", "day")
                .expression_attribute_values(":s", s(SERIES))
                .expression_attribute_values(":from", s(range.from().to_string()))
                .expression_attribute_values(":to", s(range.to().to_string()))
                .set_limit(self.page_size)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&e))?;
            for item in page.items() {
                out.push(day_from_item(item)?);
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(out),
            }
        }
    }
}

/// An SDK failure in the one classification every adapter shares.
fn sdk_error<E>(e: &SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = retryable::sdk::describe(e);
    if retryable::sdk::is_retryable(e) {
        StoreError::Unavailable(message)
    } else {
        StoreError::Refused(message)
    }
}

/// One item of the table as a [`Day`]. Absent counters are zero; attributes this
/// function does not know (written by a newer ingestion, say) are left alone.
pub fn day_from_item(item: &Item) -> Result<Day, StoreError> {
    let raw_day = match item.get("day") {
        Some(AttributeValue::S(s)) => s.as_str(),
        _ => "",
    };
    let malformed = |attribute: &str, reason: String| StoreError::Malformed {
        day: raw_day.to_owned(),
        attribute: attribute.to_owned(),
        reason,
    };
    let day =
        parse_day(raw_day).ok_or_else(|| malformed("day", "is not a date YYYY-MM-DD".into()))?;
    let mut counters = Counters::default();
    for (name, value) in item {
        let slot = match name.as_str() {
            "ordersPlaced" => &mut counters.orders_placed,
            "ordersCanceled" => &mut counters.orders_canceled,
            "shipments" => &mut counters.shipments,
            "signUps" => &mut counters.sign_ups,
            "membershipCancellations" => &mut counters.membership_cancellations,
            "discountedOrders" => &mut counters.discounted_orders,
            other => {
                if let Some(cur) = other.strip_prefix("grossRevenue_") {
                    amount(&mut counters.gross_revenue, cur, value)
                        .map_err(|reason| malformed(other, reason))?;
                } else if let Some(cur) = other.strip_prefix("canceledRevenue_") {
                    amount(&mut counters.canceled_revenue, cur, value)
                        .map_err(|reason| malformed(other, reason))?;
                } else if let Some(cur) = other.strip_prefix("discountsGiven_") {
                    amount(&mut counters.discounts_given, cur, value)
                        .map_err(|reason| malformed(other, reason))?;
                }
                continue;
            }
        };
        *slot = number(value).map_err(|reason| malformed(name, reason))?;
    }
    Ok(Day { day, counters })
}

fn amount(into: &mut Amounts, currency: &str, value: &AttributeValue) -> Result<(), String> {
    let cur = currency
        .parse()
        .map_err(|_| format!("{currency:?} is not an ISO 4217 currency code"))?;
    into.insert(cur, number(value)?);
    Ok(())
}

fn number(value: &AttributeValue) -> Result<u64, String> {
    match value {
        AttributeValue::N(n) => n
            .parse()
            .map_err(|_| format!("{n} is not a non-negative integer up to {}", u64::MAX)),
        _ => Err("is not a number (N)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.into())
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn an_item_becomes_a_day_with_absent_counters_zero() {
        let d = day_from_item(&item(&[
            ("series", AttributeValue::S("daily".into())),
            ("day", AttributeValue::S("2024-02-29".into())),
            ("ordersPlaced", n("3")),
            ("signUps", n("2")),
            ("grossRevenue_EUR", n("1999")),
            ("grossRevenue_JPY", n("500")),
            ("canceledRevenue_EUR", n("0")),
            ("discountedOrders", n("2")),
            ("discountsGiven_EUR", n("199")),
            ("discountsGiven_JPY", n("50")),
            ("updatedAt", AttributeValue::S("whenever".into())),
        ]))
        .unwrap();
        assert_eq!(d.day.to_string(), "2024-02-29");
        assert_eq!(d.counters.orders_placed, 3);
        assert_eq!(d.counters.sign_ups, 2);
        assert_eq!(d.counters.orders_canceled, 0);
        assert_eq!(d.counters.gross_revenue.len(), 2);
        assert_eq!(d.counters.gross_revenue[&"JPY".parse().unwrap()], 500);
        assert_eq!(d.counters.canceled_revenue[&"EUR".parse().unwrap()], 0);
        assert_eq!(d.counters.discounted_orders, 2);
        assert_eq!(
            d.counters.discounts_given,
            [("EUR".parse().unwrap(), 199), ("JPY".parse().unwrap(), 50)].into()
        );
        // A day stored before discounts were counted has none.
        let old = day_from_item(&item(&[
            ("day", AttributeValue::S("2024-01-01".into())),
            ("ordersPlaced", n("1")),
            ("grossRevenue_EUR", n("100")),
        ]))
        .unwrap();
        assert_eq!(old.counters.discounted_orders, 0);
        assert!(old.counters.discounts_given.is_empty());
    }

    #[test]
    fn malformed_items_name_the_attribute() {
        let day = ("day", AttributeValue::S("2024-01-01".into()));
        for (attr, value) in [
            ("ordersPlaced", n("-1")),
            ("shipments", n("1.5")),
            ("signUps", AttributeValue::S("2".into())),
            ("grossRevenue_XYZ", n("1")),
            ("canceledRevenue_EUR", n("99999999999999999999999")),
            ("discountedOrders", n("-2")),
            ("discountsGiven_EUR", AttributeValue::S("1149".into())),
            ("discountsGiven_eur", n("1")),
        ] {
            let err = day_from_item(&item(&[day.clone(), (attr, value)])).unwrap_err();
            match err {
                StoreError::Malformed { attribute, .. } => assert_eq!(attribute, attr),
                other => panic!("{other:?}"),
            }
        }
        let err = day_from_item(&item(&[("day", AttributeValue::S("2024-1-1".into()))]));
        assert!(matches!(err, Err(StoreError::Malformed { attribute, .. }) if attribute == "day"));
    }

    #[test]
    fn sdk_failures_are_classified_once() {
        use aws_sdk_dynamodb::operation::query::QueryError;
        let timeout: SdkError<QueryError, HttpResponse> = SdkError::timeout_error("slow");
        assert!(matches!(sdk_error(&timeout), StoreError::Unavailable(m) if m.contains("slow")));
        let unbuilt: SdkError<QueryError, HttpResponse> =
            SdkError::construction_failure("no table name");
        assert!(matches!(sdk_error(&unbuilt), StoreError::Refused(_)));
    }
}
