//! The memberships function (being built).
