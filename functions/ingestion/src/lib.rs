//! The ingestion function (being built).
