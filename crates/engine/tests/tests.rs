//! Engine tests, one binary: hand-computed cases with literal numbers, and property
//! tests for the invariants (incremental == batch, explanation sums to raw,
//! determinism, order independence, duplicates count once).

mod accounts;
mod cases;
mod machine;
mod properties;
