//! Check a model file and print what is wrong with it, or a summary when nothing is.
//!
//! ```text
//! cargo run -p leadscore-model --example check -- model.toml
//! ```
//!
//! This is `leadscore model check` in miniature: every diagnostic as
//! `FILE:LINE:COL: ...`, followed by the offending source line with a caret under the
//! column. Exits 0 for a valid model (warnings allowed), 1 for an invalid one, 2 when the
//! file cannot be read.

use std::process::ExitCode;

use leadscore_model::{Diagnostic, Severity};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: check MODEL.toml");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("{path}: {error}");
            return ExitCode::from(2);
        }
    };
    match leadscore_model::load(&path, &text) {
        Ok(checked) => {
            for warning in &checked.warnings {
                print_diagnostic(warning, &text);
            }
            println!("{}", leadscore_model::summary(&checked.model));
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                print_diagnostic(diagnostic, &text);
            }
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            eprintln!("{path}: {errors} error(s), model not loaded");
            ExitCode::from(1)
        }
    }
}

/// The diagnostic line, then the source line it points at with a caret under the column.
fn print_diagnostic(diagnostic: &Diagnostic, text: &str) {
    eprintln!("{diagnostic}");
    if let Some(line) = text.lines().nth(diagnostic.line.saturating_sub(1)) {
        let width = diagnostic.line.to_string().len();
        eprintln!("{:>width$} | {line}", diagnostic.line);
        eprintln!(
            "{:>width$} | {}^",
            "",
            " ".repeat(diagnostic.column.saturating_sub(1))
        );
    }
}
