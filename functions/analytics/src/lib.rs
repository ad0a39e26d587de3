//! The analytics function (being built).
