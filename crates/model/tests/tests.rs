//! Integration tests of `leadscore-model`: one binary, one module per theme.
//!
//! Fixtures live in `tests/fixtures/`. Diagnostic tests check the message, the position
//! and the underlined source text, so a change in any of them is a visible test change.

mod util;

mod accounts;
mod conditions;
mod errors;
mod machine_mistakes;
mod prediction;
mod ten_mistakes;
mod valid_model;
mod warnings;
