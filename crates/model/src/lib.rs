//! Parse, validate and compile leadscore scoring models.
//!
//! A model is a TOML file (see `docs/model-format.md`). Loading runs three stages, like a
//! compiler: `syntax` reads the TOML keeping source spans, `validate` checks every rule and
//! reports *every* problem with its line and column, and `compile` turns the checked file
//! into a [`CompiledModel`], the only thing the engine ever sees.

#![deny(missing_docs)]

pub mod compiled;
pub mod diagnostics;

pub use compiled::*;
pub use diagnostics::{Diagnostic, Severity};

/// A model that passed validation, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The compiled model.
    pub model: CompiledModel,
    /// Problems that do not stop the model from loading.
    pub warnings: Vec<Diagnostic>,
}

/// Load a model from its text. `source_name` is the file name used in diagnostics.
///
/// On failure, returns every error found (and any warnings), never just the first.
pub fn load(source_name: &str, text: &str) -> Result<Checked, Vec<Diagnostic>> {
    let _ = (source_name, text);
    todo!("syntax -> validate -> compile")
}

/// Parse a duration (`30m`, `12h`, `90d`, `2w`) into milliseconds.
pub fn parse_duration(text: &str) -> Option<Millis> {
    let _ = text;
    todo!()
}
