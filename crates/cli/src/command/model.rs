//! `leadscore model check FILE` and `leadscore model schema`.

use std::path::Path;

use anyhow::{Context, Result};

use crate::Outcome;

/// Validate a model file: exit 0 with a summary, or exit 1 with every problem.
pub fn check(file: &Path) -> Result<Outcome> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read the model", file.display()))?;
    let name = file.display().to_string();
    match leadscore_model::load(&name, &text) {
        Ok(checked) => {
            for warning in &checked.warnings {
                eprintln!("{warning}");
            }
            println!("{}: ok: {}", name, leadscore_model::summary(&checked.model));
            Ok(Outcome::Success)
        }
        Err(diagnostics) => {
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

/// Load a model for a command that needs one, printing every problem when invalid.
pub fn load(file: &Path) -> Result<Option<leadscore_model::CompiledModel>> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read the model", file.display()))?;
    let name = file.display().to_string();
    match leadscore_model::load(&name, &text) {
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
