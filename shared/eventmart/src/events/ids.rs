//! Identifiers and small value types that cannot hold invalid values.
//!
//! Every type here is parsed once, at the edge (`FromStr`/`TryFrom<String>`, which serde
//! uses too), and is valid from then on.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Why a value was rejected. Always permanent: the same input fails the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

fn invalid(msg: impl Into<String>) -> InvalidValue {
    InvalidValue(msg.into())
}

/// Implements the string conversions serde and callers share, plus the JSON Schema.
macro_rules! string_newtype {
    ($ty:ident, $schema:tt) => {
        impl TryFrom<String> for $ty {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!($schema)
            }
        }
    };
}

/// A UUID of a given version, shown in its hyphenated lower-case form.
macro_rules! uuid_newtype {
    ($(#[$doc:meta])* $ty:ident, version = $version:expr, new = $new:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(Uuid);

        impl $ty {
            /// A fresh identifier.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self($new)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl FromStr for $ty {
            type Err = InvalidValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the hyphenated form: one spelling per id, so that keys compare equal.
                let id = Uuid::try_parse(s)
                    .ok()
                    .filter(|_| s.len() == 36)
                    .ok_or_else(|| invalid("must be a UUID like 0193b3a4-1111-7aaa-8bbb-000000000001"))?;
                match $version {
                    Some(v) if id.get_version_num() != v => {
                        Err(invalid(format!("must be a version {v} UUID")))
                    }
                    _ => Ok(Self(id)),
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = InvalidValue;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.to_string()
            }
        }
        impl JsonSchema for $ty {
            fn schema_name() -> Cow<'static, str> {
                stringify!($ty).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                let version = match $version {
                    Some(v) => v.to_string(),
                    None => "0-9a-fA-F".to_owned(),
                };
                let pattern = format!(
                    "^[0-9a-fA-F]{{8}}-[0-9a-fA-F]{{4}}-[{version}][0-9a-fA-F]{{3}}-[0-9a-fA-F]{{4}}-[0-9a-fA-F]{{12}}$"
                );
                json_schema!({"type": "string", "format": "uuid", "pattern": pattern})
            }
        }
    };
}

uuid_newtype!(
    /// `metadata.eventId`: assigned once by the producer, UUID v7 so ids sort by time.
    EventId, version = Some(7usize), new = Uuid::now_v7()
);
uuid_newtype!(
    /// `metadata.correlationId`: ties together every event caused by one request.
    CorrelationId, version = None::<usize>, new = Uuid::new_v4()
);
uuid_newtype!(
    /// An order, named by the orders service (UUID v7).
    OrderId, version = Some(7usize), new = Uuid::now_v7()
);
uuid_newtype!(
    /// A membership, named by the memberships service (UUID v7).
    MembershipId, version = Some(7usize), new = Uuid::now_v7()
);

/// Characters allowed in client-chosen identifiers (customer ids, SKUs).
fn is_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A customer identifier from the identity system: 1–64 of `A-Z a-z 0-9 - _ .`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerId(String);

impl FromStr for CustomerId {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() || s.len() > 64 || !s.chars().all(is_id_char) {
            return Err(invalid(
                "must be 1 to 64 characters of A-Z, a-z, 0-9, '-', '_', '.'",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
impl fmt::Display for CustomerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_newtype!(CustomerId, {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$"});

/// A stock-keeping unit: 1–32 of `A-Z 0-9 -`, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

impl FromStr for Sku {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
        if !ok {
            return Err(invalid("must be 1 to 32 characters of A-Z, 0-9 and '-'"));
        }
        Ok(Self(s.to_owned()))
    }
}
impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_newtype!(Sku, {"type": "string", "pattern": "^[A-Z0-9-]{1,32}$"});

/// An email address, checked the way a mail system would accept it for delivery:
/// one `@`, a local part of 1–64 printable characters, a domain of dot-separated labels.
/// Personal data: its `Debug` form is redacted so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || invalid("must be an email address like name@example.com");
        if s.len() > 254 {
            return Err(invalid("must be at most 254 characters"));
        }
        let (local, domain) = s.split_once('@').ok_or_else(bad)?;
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if local_ok && domain_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(bad())
        }
    }
}
impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Email(<redacted>)")
    }
}
string_newtype!(Email, {"type": "string", "format": "email", "maxLength": 254});

/// Active ISO 4217 alphabetic codes (funds and precious-metal codes left out).
const ISO_4217: &str = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB \
BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR \
FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS \
KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN \
MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG \
SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS \
VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG";

/// An ISO 4217 currency code, e.g. `EUR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// The number of digits after the decimal point of this currency's major unit
    /// (ISO 4217's minor unit): 2 for EUR, 0 for JPY, 3 for KWD.
    pub fn minor_digits(self) -> u8 {
        MINOR_DIGITS
            .iter()
            .find(|(code, _)| *code == self.as_str())
            .map_or(DEFAULT_MINOR_DIGITS, |(_, digits)| *digits)
    }
}

/// The minor digits of a currency when ISO 4217 gives none of these: cents and the like.
pub const DEFAULT_MINOR_DIGITS: u8 = 2;

/// ISO 4217's minor unit of every active currency whose exponent is not
/// [`DEFAULT_MINOR_DIGITS`]: an amount of `n` minor units is `n / 10^digits` of the
/// currency (`104979` EUR is €1,049.79, `800` JPY is ¥800, `1500` KWD is 1.500 KD).
/// Amounts are stored and sent in minor units; whatever shows them to people (the
/// emails, the dashboard) formats them with this table, the one source of it.
pub const MINOR_DIGITS: &[(&str, u8)] = &[
    ("BHD", 3),
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("RWF", 0),
    ("TND", 3),
    ("UGX", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
];
impl FromStr for Currency {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 3 && ISO_4217.split(' ').any(|c| c == s) {
            let b = s.as_bytes();
            Ok(Self([b[0], b[1], b[2]]))
        } else {
            Err(invalid(
                "must be an ISO 4217 currency code such as EUR or USD",
            ))
        }
    }
}
impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
string_newtype!(Currency, {"type": "string", "pattern": "^[A-Z]{3}$"});

/// An amount of money: integer minor units (cents for EUR) and its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Money {
    /// Minor units of the currency, never negative, at most 2^53 - 1 so that every JSON
    /// reader holds it exactly.
    #[schemars(range(min = 0, max = 9_007_199_254_740_991u64))]
    pub amount_minor: MinorUnits,
    pub currency: Currency,
}

/// A non-negative integer amount that JSON numbers hold exactly (at most 2^53 - 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct MinorUnits(u64);

impl MinorUnits {
    pub const MAX: u64 = 9_007_199_254_740_991;
    pub fn get(self) -> u64 {
        self.0
    }
    pub fn checked_add(self, other: MinorUnits) -> Option<MinorUnits> {
        self.0
            .checked_add(other.0)
            .and_then(|v| MinorUnits::try_from(v).ok())
    }
    pub const ZERO: MinorUnits = MinorUnits(0);
    pub fn checked_sub(self, other: MinorUnits) -> Option<MinorUnits> {
        self.0.checked_sub(other.0).map(MinorUnits)
    }
    pub fn checked_mul(self, by: u64) -> Option<MinorUnits> {
        self.0
            .checked_mul(by)
            .and_then(|v| MinorUnits::try_from(v).ok())
    }
}
impl TryFrom<u64> for MinorUnits {
    type Error = InvalidValue;
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        if v > Self::MAX {
            return Err(invalid("must be at most 9007199254740991"));
        }
        Ok(Self(v))
    }
}
impl From<MinorUnits> for u64 {
    fn from(v: MinorUnits) -> u64 {
        v.0
    }
}
impl JsonSchema for MinorUnits {
    fn schema_name() -> Cow<'static, str> {
        "MinorUnits".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 0, "maximum": 9_007_199_254_740_991u64})
    }
}

/// A rate in basis points, hundredths of a percent: `500` is 5 %. 0 to 10,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct BasisPoints(u16);

impl BasisPoints {
    pub const MAX: u16 = 10_000;

    /// `bps` basis points; a constant of the plan catalog, so out of range is a bug.
    pub const fn new(bps: u16) -> Self {
        assert!(bps <= Self::MAX, "at most 10,000 basis points");
        Self(bps)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    /// This rate of `amount`, rounded down to a whole minor unit: the part of a minor
    /// unit that the rate does not reach is never given. At most `amount`, so what is
    /// left is never negative. Exact for every amount (the product is taken in 128 bits).
    pub fn of(self, amount: MinorUnits) -> MinorUnits {
        let part = u128::from(amount.get()) * u128::from(self.0) / u128::from(Self::MAX);
        // part <= amount <= MinorUnits::MAX
        MinorUnits(part as u64)
    }
}
impl TryFrom<u16> for BasisPoints {
    type Error = InvalidValue;
    fn try_from(v: u16) -> Result<Self, Self::Error> {
        if v > Self::MAX {
            return Err(invalid("must be between 0 and 10000"));
        }
        Ok(Self(v))
    }
}
impl From<BasisPoints> for u16 {
    fn from(v: BasisPoints) -> u16 {
        v.0
    }
}
impl JsonSchema for BasisPoints {
    fn schema_name() -> Cow<'static, str> {
        "BasisPoints".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 0, "maximum": 10_000,
            "description": "hundredths of a percent: 500 is 5 %"})
    }
}

/// A quantity of one line of an order: 1 to 1,000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub const MAX: u32 = 1000;
    pub fn get(self) -> u32 {
        self.0
    }
}
impl TryFrom<u32> for Quantity {
    type Error = InvalidValue;
    fn try_from(v: u32) -> Result<Self, Self::Error> {
        if v == 0 || v > Self::MAX {
            return Err(invalid("must be between 1 and 1000"));
        }
        Ok(Self(v))
    }
}
impl From<Quantity> for u32 {
    fn from(v: Quantity) -> u32 {
        v.0
    }
}
impl JsonSchema for Quantity {
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "integer", "minimum": 1, "maximum": 1000})
    }
}

/// Free text from a person (a cancel reason): 1–500 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

impl FromStr for Reason {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n = s.chars().count();
        if n == 0 || n > 500 || s.trim().is_empty() || s.chars().any(char::is_control) {
            return Err(invalid(
                "must be 1 to 500 characters without control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
string_newtype!(Reason, {"type": "string", "minLength": 1, "maxLength": 500});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_must_be_v7() {
        assert!(EventId::new().to_string().parse::<EventId>().is_ok());
        let v4 = Uuid::new_v4().to_string();
        assert_eq!(
            v4.parse::<EventId>().unwrap_err().0,
            "must be a version 7 UUID"
        );
        assert!("not-a-uuid".parse::<EventId>().is_err());
    }

    #[test]
    fn emails() {
        for ok in [
            "a@b.co",
            "first.last+tag@mail.example.com",
            "x_y@sub-domain.example.org",
        ] {
            assert!(ok.parse::<Email>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.co",
            "a@",
            "a@b",
            "a@@b.co",
            "a b@c.co",
            ".a@b.co",
            "a..b@c.co",
            "a@-b.co",
            "a@b..co",
        ] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
        assert_eq!(
            format!("{:?}", "a@b.co".parse::<Email>().unwrap()),
            "Email(<redacted>)"
        );
    }

    #[test]
    fn currencies_and_amounts() {
        assert_eq!("EUR".parse::<Currency>().unwrap().as_str(), "EUR");
        assert!("eur".parse::<Currency>().is_err());
        assert!("ABC".parse::<Currency>().is_err());
        assert!(MinorUnits::try_from(MinorUnits::MAX + 1).is_err());
        let max = MinorUnits::try_from(MinorUnits::MAX).unwrap();
        assert!(max.checked_add(MinorUnits::try_from(1).unwrap()).is_none());
    }

    #[test]
    fn ids_skus_quantities_reasons() {
        assert!("cust-42".parse::<CustomerId>().is_ok());
        assert!("".parse::<CustomerId>().is_err());
        assert!("a/b".parse::<CustomerId>().is_err());
        assert!("SHOE-42".parse::<Sku>().is_ok());
        assert!("shoe".parse::<Sku>().is_err());
        assert!(Quantity::try_from(0).is_err());
        assert!(Quantity::try_from(1001).is_err());
        assert!("   ".parse::<Reason>().is_err());
        assert!("changed my mind".parse::<Reason>().is_ok());
    }

    #[test]
    fn minor_digits_follow_iso_4217() {
        for (code, digits) in [
            ("EUR", 2),
            ("USD", 2),
            ("GBP", 2),
            ("CHF", 2),
            ("JPY", 0),
            ("KRW", 0),
            ("BHD", 3),
            ("KWD", 3),
            ("JOD", 3),
            ("OMR", 3),
            ("TND", 3),
        ] {
            assert_eq!(cur(code).minor_digits(), digits, "{code}");
        }
        // Every entry is a currency the event contract accepts, once, in order, and
        // none repeats the default.
        for (code, digits) in MINOR_DIGITS {
            assert_eq!(cur(code).as_str(), *code);
            assert_ne!(*digits, DEFAULT_MINOR_DIGITS, "{code}");
        }
        assert!(MINOR_DIGITS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    fn cur(code: &str) -> Currency {
        code.parse().unwrap()
    }

    #[test]
    fn a_rate_of_an_amount_rounds_down_to_a_whole_minor_unit() {
        let units = |v: u64| MinorUnits::try_from(v).unwrap();
        let five = BasisPoints::new(500);
        // 5 % of 19.99 is 0.9995: 0.99 off, never 1.00.
        assert_eq!(five.of(units(1999)).get(), 99);
        assert_eq!(five.of(units(2000)).get(), 100);
        assert_eq!(five.of(units(19)).get(), 0);
        assert_eq!(BasisPoints::new(0).of(units(12345)).get(), 0);
        assert_eq!(BasisPoints::new(10_000).of(units(12345)).get(), 12345);
        // No overflow at the largest amount.
        let max = units(MinorUnits::MAX);
        assert_eq!(BasisPoints::new(10_000).of(max), max);
        assert_eq!(BasisPoints::new(5_000).of(max).get(), MinorUnits::MAX / 2);
        assert!(BasisPoints::try_from(10_001).is_err());
        assert_eq!(serde_json::to_value(five).unwrap(), serde_json::json!(500));
    }
}
