//! The orders function (being built).
