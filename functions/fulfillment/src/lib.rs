//! The fulfillment function (being built).
