//! Parse, validate and compile leadscore scoring models.
//!
//! A model is a TOML file (see `docs/model-format.md`). Loading runs three stages, like a
//! compiler: `syntax` reads the TOML keeping source spans, `validate` checks every rule and
//! reports *every* problem with its line and column, and `compile` turns the checked file
//! into a [`CompiledModel`], the only thing the engine ever sees.
//!
//! ```
//! let text = r#"
//! version = 1
//! name = "tiny"
//!
//! [[fit]]
//! id = "germany"
//! when = { field = "country", eq = "DE" }
//! points = 10
//! "#;
//! let checked = leadscore_model::load("tiny.toml", text).expect("a valid model");
//! assert_eq!(checked.model.fit[0].id, "germany");
//! assert_eq!(leadscore_model::summary(&checked.model), "tiny: 1 fit, 0 engagement, 0 disqualify rules, 0 groups, 0 stages, 0 triggers, 0 routes, 0 teams");
//!
//! let errors = leadscore_model::load("bad.toml", "version = 1\nname = \"x\"\nscore = 3\n")
//!     .expect_err("an invalid model");
//! assert_eq!(errors[0].to_string(), "bad.toml:3:9: `score` must be a table, found an integer");
//! ```
//!
//! Layout:
//!
//! * `syntax`: TOML text to a spanned tree; TOML syntax errors as diagnostics.
//! * `validate`: every check, every diagnostic; names resolved.
//! * `compile`: lowering into [`compiled`] (interned event names, prepared literals).
//! * [`compiled`]: the engine's view of a model (a fixed interface).
//! * [`diagnostics`]: located problems.
//! * [`schema`]: a JSON Schema of the file format for editors.

#![deny(missing_docs)]

mod ast;
mod compile;
pub mod compiled;
pub mod diagnostics;
mod duration;
pub mod machine;
pub mod schema;
mod syntax;
mod validate;

pub use compiled::*;
pub use diagnostics::{Diagnostic, Severity};
pub use machine::{Burst, IpRange, Machine};
pub use schema::JSON_SCHEMA;

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
/// On failure, returns every error found (and any warnings), never just the first: the
/// errors come first, sorted by position, then the warnings, sorted by position. When the
/// text is not valid TOML, only the TOML syntax errors are reported (all of them): the
/// rest of the file is checked once it parses.
pub fn load(source_name: &str, text: &str) -> Result<Checked, Vec<Diagnostic>> {
    let source = syntax::Source::new(source_name, text);
    let root = syntax::parse(&source)?;
    let outcome = validate::validate(&source, &root);
    match outcome.model {
        Some(model) if outcome.errors.is_empty() => Ok(Checked {
            model: compile::compile(model),
            warnings: outcome.warnings,
        }),
        _ => {
            let mut diagnostics = outcome.errors;
            diagnostics.extend(outcome.warnings);
            Err(diagnostics)
        }
    }
}

/// Parse a duration (`30m`, `12h`, `90d`, `2w`) into milliseconds.
///
/// A duration is a positive integer followed by `m` (minutes), `h` (hours), `d` (days) or
/// `w` (weeks); anything else (`"30 days"`, `"0d"`, `"-1d"`, `"5y"`) is `None`.
///
/// ```
/// assert_eq!(leadscore_model::parse_duration("30d"), Some(30 * 86_400_000));
/// assert_eq!(leadscore_model::parse_duration("30 days"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Millis> {
    duration::parse(text)
}

/// A one-line summary of a model, for logs and `model check`:
/// `b2b-default: 12 fit, 15 engagement, 3 disqualify rules, 3 groups, 3 stages, 2 triggers, 2 routes, 2 teams`.
///
/// Counts of one use the singular (`1 group`). A model with `[account]` adds
/// `; account: 3 fit, 3 engagement, 3 stages, 1 trigger, 2 routes`.
pub fn summary(model: &CompiledModel) -> String {
    fn count(n: usize, one: &str, many: &str) -> String {
        format!("{n} {}", if n == 1 { one } else { many })
    }
    let account = model.account.as_ref().map_or_else(String::new, |a| {
        format!(
            "; account: {} fit, {} engagement, {}, {}, {}",
            a.fit.len(),
            a.engagement.len(),
            count(a.stages.len(), "stage", "stages"),
            count(a.triggers.len(), "trigger", "triggers"),
            count(a.routes.len(), "route", "routes"),
        )
    });
    format!(
        "{}: {} fit, {} engagement, {}, {}, {}, {}, {}, {}{account}",
        model.name,
        model.fit.len(),
        model.engagement.len(),
        count(
            model.disqualify.len(),
            "disqualify rule",
            "disqualify rules"
        ),
        count(model.groups.len(), "group", "groups"),
        count(model.stages.len(), "stage", "stages"),
        count(model.triggers.len(), "trigger", "triggers"),
        count(model.routes.len(), "route", "routes"),
        count(model.teams.len(), "team", "teams"),
    )
}
