//! One module per verb of the `leadscore` command.

pub mod backtest;
pub mod generate;
pub mod keys;
pub mod model;
pub mod report;
pub mod score;
pub mod serve;
pub mod tune;
