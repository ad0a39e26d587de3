//! The notifications function (being built).
