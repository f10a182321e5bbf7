//! The options for messy CRM exports that every command reading a contacts CSV takes
//! (`score`, `backtest`, `report`, `tune`): `--map`, `--missing`, `--numeric`,
//! `--boolean`. The cleaning itself is `leadscore_formats::clean`; this module only
//! decides which columns are numeric or boolean: those named on the command line, plus
//! those the model compares as numbers (`gt`, `gte`, `lt`, `lte`) or with `true` /
//! `false`, so that a band like `{ field = "company_size", gte = 200 }` works on
//! `1,200` without the user having to say so.

use leadscore_formats::Cleaning;
use leadscore_model::CompiledModel;
use leadscore_model::compiled::{Condition, FieldOp, Literal};

/// Options for cleaning a CRM export while reading it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CrmArgs {
    /// Read the contacts column COLUMN as the attribute ATTRIBUTE, e.g.
    /// "Lead Source=lead_source" (repeatable; the column matches ignoring case).
    #[arg(long = "map", value_name = "COLUMN=ATTRIBUTE", value_parser = Cleaning::parse_map)]
    map: Vec<(String, String)>,
    /// Cell values that mean "missing", comma-separated, e.g. "Select,N/A,unknown"
    /// (repeatable; compared trimmed, ignoring case).
    #[arg(long, value_name = "A,B,...")]
    missing: Vec<String>,
    /// Also parse these columns (attribute names) as numbers: "1,200", "$3.5k", "45 min"
    /// (comma-separated, repeatable). Columns the model compares with gt/gte/lt/lte
    /// always are.
    #[arg(long, value_name = "COLUMNS")]
    numeric: Vec<String>,
    /// Also parse these columns as booleans: Yes/No, Y/N, true/false, 1/0
    /// (comma-separated, repeatable). Columns the model compares with true/false always
    /// are.
    #[arg(long, value_name = "COLUMNS")]
    boolean: Vec<String>,
}

impl CrmArgs {
    /// The cleaning for contacts scored with `model`.
    pub fn cleaning(&self, model: &CompiledModel) -> Cleaning {
        let mut numeric: Vec<String> = self
            .numeric
            .iter()
            .flat_map(|s| Cleaning::parse_list(s))
            .collect();
        let mut boolean: Vec<String> = self
            .boolean
            .iter()
            .flat_map(|s| Cleaning::parse_list(s))
            .collect();
        let conditions = model
            .fit
            .iter()
            .map(|r| &r.when)
            .chain(model.disqualify.iter().map(|r| &r.when))
            .chain(model.stages.iter().filter_map(|s| s.when.as_ref()))
            .chain(model.triggers.iter().map(|t| &t.when))
            .chain(model.routes.iter().map(|r| &r.when));
        for condition in conditions {
            typed_fields(condition, &mut numeric, &mut boolean);
        }
        Cleaning {
            rename: self.map.clone(),
            missing: self
                .missing
                .iter()
                .flat_map(|s| Cleaning::parse_list(s))
                .collect(),
            numeric,
            boolean,
        }
    }
}

/// Collect the attribute fields a condition compares as numbers or booleans.
fn typed_fields(condition: &Condition, numeric: &mut Vec<String>, boolean: &mut Vec<String>) {
    match condition {
        Condition::Field { field, ops } => {
            let is_bool = |l: &Literal| l.boolean.is_some();
            for op in ops {
                let list = match op {
                    FieldOp::Compare(..) => &mut *numeric,
                    FieldOp::Eq(l) | FieldOp::Ne(l) if is_bool(l) => &mut *boolean,
                    FieldOp::In(ls) | FieldOp::NotIn(ls) if ls.iter().any(is_bool) => &mut *boolean,
                    _ => continue,
                };
                if !list.iter().any(|f| f.eq_ignore_ascii_case(field)) {
                    list.push(field.clone());
                }
            }
        }
        Condition::All(items) | Condition::Any(items) => {
            for item in items {
                typed_fields(item, numeric, boolean);
            }
        }
        Condition::Not(inner) => typed_fields(inner, numeric, boolean),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_types_the_columns_it_compares() {
        let model = leadscore_model::load(
            "m.toml",
            r#"
            version = 1
            name = "t"
            [[fit]]
            id = "mid"
            when = { all = [ { field = "company_size", gte = 200, lt = 5000 },
                             { not = { field = "opted_in", eq = true } } ] }
            points = 10
            [[fit]]
            id = "de"
            when = { field = "country", in = ["DE", "NO"] }
            points = 5
            "#,
        )
        .map(|loaded| loaded.model);
        let Ok(model) = model else {
            panic!("the test model is valid");
        };
        let args = CrmArgs {
            numeric: vec!["revenue, employees".into()],
            ..CrmArgs::default()
        };
        let cleaning = args.cleaning(&model);
        assert_eq!(cleaning.numeric, ["revenue", "employees", "company_size"]);
        assert_eq!(cleaning.boolean, ["opted_in"]);
    }
}
