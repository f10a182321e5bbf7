//! Integration tests of leadscore-generate: one binary, one module per concern.
//!
//! Most tests share one generated data set (2,000 contacts, seed 1) held in memory and
//! parsed once; statistical checks use margins far wider than the sampling noise.

mod accounts;
mod common;
mod determinism;
mod events;
mod outcomes;
mod realism;
mod truth;
