//! Integration tests of leadscore-formats: one binary, one module per file format.
//!
//! Every test writes real files into its own temporary directory and reads them back
//! through the public API, checking exact line numbers and exact output strings.

mod common;
mod contacts;
mod events;
mod outcomes;
mod results;
