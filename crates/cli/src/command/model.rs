//! `leadscore model check` and `leadscore model schema`, and model loading for the
//! other commands.

use std::path::Path;

use anyhow::{Context, Result};
use leadscore_model::{Checked, Diagnostic};

use crate::Outcome;

/// Read and load a model file; the name in diagnostics is the path as given.
fn read(file: &Path) -> Result<(String, Result<Checked, Vec<Diagnostic>>)> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read the model", file.display()))?;
    let name = file.display().to_string();
    let loaded = leadscore_model::load(&name, &text);
    Ok((name, loaded))
}

/// Validate a model file: exit 0 with a summary, or exit 1 with every problem.
pub fn check(file: &Path) -> Result<Outcome> {
    match read(file)? {
        (name, Ok(checked)) => {
            for warning in &checked.warnings {
                eprintln!("{warning}");
            }
            println!("{}: ok: {}", name, leadscore_model::summary(&checked.model));
            Ok(Outcome::Success)
        }
        (name, Err(diagnostics)) => {
            for diagnostic in &diagnostics {
                println!("{diagnostic}");
            }
            let errors = diagnostics
                .iter()
                .filter(|d| d.severity == leadscore_model::Severity::Error)
                .count();
            eprintln!("{name}: {errors} error(s)");
            Ok(Outcome::Invalid)
        }
    }
}

/// Print the JSON Schema of the model format.
pub fn schema() -> Result<Outcome> {
    println!("{}", leadscore_model::schema::JSON_SCHEMA.trim_end());
    Ok(Outcome::Success)
}

/// Load a model for a command that needs one; every problem goes to stderr and the
/// result is `None` when the model is invalid.
pub fn load(file: &Path) -> Result<Option<leadscore_model::CompiledModel>> {
    let (_, loaded) = read(file)?;
    match loaded {
        Ok(checked) => {
            for warning in &checked.warnings {
                eprintln!("{warning}");
            }
            Ok(Some(checked.model))
        }
        Err(diagnostics) => {
            for diagnostic in &diagnostics {
                eprintln!("{diagnostic}");
            }
            Ok(None)
        }
    }
}
