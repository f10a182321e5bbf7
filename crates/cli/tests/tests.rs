//! End-to-end tests of the `leadscore` binary: real files in a temporary directory, the
//! real executable, exit codes and output checked.

mod analytics;
mod backtest;
mod generate;
mod model;
mod report;
mod score;
mod serve;
mod support;
mod tune;
