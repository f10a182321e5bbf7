//! Score results as JSONL or CSV, the shapes of `docs/interfaces.md`.
//!
//! A JSONL line has its keys in this order (the order of the documented example):
//! `contact_id, as_of, score, raw, fit, engagement, manual, grade, label, groups, stage,
//! disqualified, owner, route, prediction, account, explain`; `prediction` only when the
//! model has a `[prediction]` table (`{"probability","tuned_at","auc"}`), `account`
//! (`{"key":..,"attributes":{..}}`) only under a model's `[account]`, `explain` only
//! when asked for. `route` is
//! `{"route":..,"team":..}` or `null`; `owner` is `null` unless set (batch scoring
//! assigns no owners).
//!
//! Numbers: every number is rounded to at most 6 decimals, and a whole number is
//! written without a fraction. So `73.40000000001` is written `73.4`, `35.0` is `35`,
//! and a group at `30.0` is `30`; a value that is not finite is written `null` (JSON)
//! or an empty cell (CSV). Readers must not rely on the difference between `35` and
//! `35.0`, which JSON does not make.
//!
//! The CSV has the columns `contact_id,as_of,score,raw,fit,engagement,manual,grade,
//! label,stage,disqualified,owner,route,team`, then `group:<name>` for each of the
//! model's groups, then `probability` (only for a model with `[prediction]`, see
//! [`CsvWriter::with_probability`]), then `explain` (only when asked for) as
//! `rule=points;rule=points`.

use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};

use leadscore_engine::{AccountRef, ExplainLine, LineKind, Prediction, RouteResult, ScoreResult};
use leadscore_model::Millis;
use serde::Serialize;
use serde::ser::Serializer;

use crate::time::Rfc3339;

/// Largest magnitude written as an integer: beyond 2^53 an f64 has no fraction anyway.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// `x` rounded to 6 decimals (values too large to have 6 decimals are kept), `-0` as 0.
fn round6(x: f64) -> f64 {
    if !x.is_finite() || x.abs() >= 1e15 {
        return x;
    }
    let r = (x * 1e6).round() / 1e6;
    if r == 0.0 { 0.0 } else { r }
}

/// A number as results write it: rounded, whole numbers without a fraction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Num(f64);

impl Num {
    /// `Some(n)` when the rounded value is a whole number that fits exactly.
    #[expect(
        clippy::cast_possible_truncation,
        reason = "checked: whole and within 2^53"
    )]
    fn as_integer(self) -> Option<i64> {
        let r = round6(self.0);
        (r.is_finite() && r.fract() == 0.0 && r.abs() <= MAX_EXACT).then_some(r as i64)
    }

    fn is_zero(&self) -> bool {
        round6(self.0) == 0.0
    }

    /// Append the CSV text of this number to `out` (empty when not finite): the same
    /// digits as in JSON (serde_json also writes with `itoa` and `ryu`).
    fn write_to(self, out: &mut String) {
        match self.as_integer() {
            Some(n) => out.push_str(itoa::Buffer::new().format(n)),
            None if self.0.is_finite() => out.push_str(ryu::Buffer::new().format(round6(self.0))),
            None => {}
        }
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.as_integer() {
            Some(n) => serializer.serialize_i64(n),
            None => serializer.serialize_f64(round6(self.0)),
        }
    }
}

/// A score result as one JSON object, borrowing everything; serialize it with
/// serde_json (the API uses it for response bodies, [`JsonlWriter`] for lines).
#[derive(Debug, Clone, Serialize)]
pub struct ResultJson<'a> {
    contact_id: &'a str,
    as_of: Rfc3339,
    score: i64,
    raw: Num,
    fit: Num,
    engagement: Num,
    manual: Num,
    grade: Option<&'a str>,
    label: Option<&'a str>,
    groups: Groups<'a>,
    stage: Option<&'a str>,
    disqualified: bool,
    owner: Option<&'a str>,
    route: Option<&'a RouteResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prediction: Option<PredictionJson<'a>>,
    /// `{"key":..,"attributes":{..}}` under `[account]`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a AccountRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explain: Option<Explain<'a>>,
    #[serde(skip)]
    lines: &'a [ExplainLine],
}

impl<'a> ResultJson<'a> {
    /// The result of `contact_id` as of `as_of`, without `explain` and owner.
    pub fn new(contact_id: &'a str, as_of: Millis, result: &'a ScoreResult) -> Self {
        Self {
            contact_id,
            as_of: Rfc3339(as_of),
            score: result.score,
            raw: Num(result.raw),
            fit: Num(result.fit),
            engagement: Num(result.engagement),
            manual: Num(result.manual),
            grade: result.grade.as_deref(),
            label: result.label.as_deref(),
            groups: Groups(&result.groups),
            stage: result.stage.as_deref(),
            disqualified: result.disqualified,
            owner: None,
            route: result.route.as_ref(),
            prediction: result.prediction.as_ref().map(PredictionJson::from),
            account: result.account.as_ref(),
            explain: None,
            lines: &result.explain,
        }
    }

    /// Include the explanation lines (`--explain`, and always in the API).
    pub fn with_explain(mut self, explain: bool) -> Self {
        self.explain = explain.then_some(Explain(self.lines));
        self
    }

    /// Set the assigned owner (the server knows it; batch runs do not).
    pub fn with_owner(mut self, owner: Option<&'a str>) -> Self {
        self.owner = owner;
        self
    }
}

/// `prediction` with its numbers rounded like every other.
#[derive(Debug, Clone, Serialize)]
struct PredictionJson<'a> {
    probability: Num,
    tuned_at: &'a str,
    auc: Num,
}

impl<'a> From<&'a Prediction> for PredictionJson<'a> {
    fn from(p: &'a Prediction) -> Self {
        Self {
            probability: Num(p.probability),
            tuned_at: &p.tuned_at,
            auc: Num(p.auc),
        }
    }
}

/// `groups` as an object in declaration order.
#[derive(Debug, Clone, Copy)]
struct Groups<'a>(&'a [(String, f64)]);

impl Serialize for Groups<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(name, points)| (name, Num(*points))))
    }
}

/// `explain` as an array.
#[derive(Debug, Clone, Copy)]
struct Explain<'a>(&'a [ExplainLine]);

impl Serialize for Explain<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(LineJson::from))
    }
}

/// An [`ExplainLine`] with the same keys as its own `Serialize`, numbers rounded.
#[derive(Serialize)]
struct LineJson<'a> {
    rule: &'a str,
    label: Option<&'a str>,
    kind: LineKind,
    count: u32,
    points: Num,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    not_counted: u32,
    #[serde(skip_serializing_if = "Num::is_zero")]
    capped: Num,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clamped_to: Option<Num>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl<'a> From<&'a ExplainLine> for LineJson<'a> {
    fn from(line: &'a ExplainLine) -> Self {
        Self {
            rule: &line.rule,
            label: line.label.as_deref(),
            kind: line.kind,
            count: line.count,
            points: Num(line.points),
            group: line.group.as_deref(),
            not_counted: line.not_counted,
            capped: Num(line.capped),
            author: line.author.as_deref(),
            clamped_to: line.clamped_to.map(Num),
            reason: line.reason.as_deref(),
        }
    }
}

/// Writes one JSON result per line. Buffered inside; call [`JsonlWriter::finish`] to
/// flush and see the last write errors.
#[derive(Debug)]
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
    explain: bool,
}

impl<W: Write> JsonlWriter<W> {
    /// A writer to `out`; `explain` adds each result's explanation.
    pub fn new(out: W, explain: bool) -> Self {
        Self {
            out: BufWriter::with_capacity(1 << 16, out),
            explain,
        }
    }

    /// Write the result of `contact_id` as of `as_of`.
    pub fn write(
        &mut self,
        contact_id: &str,
        as_of: Millis,
        result: &ScoreResult,
    ) -> io::Result<()> {
        let json = ResultJson::new(contact_id, as_of, result).with_explain(self.explain);
        serde_json::to_writer(&mut self.out, &json)?;
        self.out.write_all(b"\n")
    }

    /// Flush and return the inner writer.
    pub fn finish(self) -> io::Result<W> {
        self.out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)
    }
}

/// The fixed CSV columns, before the group columns.
const CSV_COLUMNS: [&str; 14] = [
    "contact_id",
    "as_of",
    "score",
    "raw",
    "fit",
    "engagement",
    "manual",
    "grade",
    "label",
    "stage",
    "disqualified",
    "owner",
    "route",
    "team",
];

/// Writes results as CSV with a header (written by [`CsvWriter::new`]).
#[derive(Debug)]
pub struct CsvWriter<W: Write> {
    csv: csv::Writer<W>,
    /// The model's groups, one column each, in this order.
    groups: Vec<String>,
    explain: bool,
    /// Whether there is a `probability` column.
    probability: bool,
    /// Reused for formatting numbers and the explanation.
    buf: String,
}

impl<W: Write> CsvWriter<W> {
    /// A writer to `out` with one `group:<name>` column per name in `groups` (the
    /// model's groups in declaration order); `explain` adds the `explain` column.
    pub fn new<S: AsRef<str>>(out: W, groups: &[S], explain: bool) -> io::Result<Self> {
        Self::with_probability(out, groups, explain, false)
    }

    /// [`CsvWriter::new`], with a `probability` column after the groups when
    /// `probability` (a model with `[prediction]`; a result without one leaves it empty).
    pub fn with_probability<S: AsRef<str>>(
        out: W,
        groups: &[S],
        explain: bool,
        probability: bool,
    ) -> io::Result<Self> {
        let mut csv = csv::WriterBuilder::new()
            .buffer_capacity(1 << 16)
            .from_writer(out);
        let groups: Vec<String> = groups.iter().map(|g| g.as_ref().to_owned()).collect();
        for column in CSV_COLUMNS {
            csv.write_field(column)?;
        }
        for group in &groups {
            csv.write_field(format!("group:{group}"))?;
        }
        if probability {
            csv.write_field("probability")?;
        }
        if explain {
            csv.write_field("explain")?;
        }
        csv.write_record(None::<&[u8]>)?;
        Ok(Self {
            csv,
            groups,
            explain,
            probability,
            buf: String::new(),
        })
    }

    fn num(&mut self, x: f64) -> io::Result<()> {
        self.buf.clear();
        Num(x).write_to(&mut self.buf);
        Ok(self.csv.write_field(&self.buf)?)
    }

    /// Write the result of `contact_id` as of `as_of`. Groups the header does not
    /// name are left out; a header group the result lacks is an empty cell.
    pub fn write(
        &mut self,
        contact_id: &str,
        as_of: Millis,
        result: &ScoreResult,
    ) -> io::Result<()> {
        self.csv.write_field(contact_id)?;
        self.buf.clear();
        let _ = write!(self.buf, "{}", Rfc3339(as_of));
        self.csv.write_field(&self.buf)?;
        self.buf.clear();
        self.csv
            .write_field(itoa::Buffer::new().format(result.score))?;
        for x in [result.raw, result.fit, result.engagement, result.manual] {
            self.num(x)?;
        }
        let route = result.route.as_ref();
        for text in [
            result.grade.as_deref(),
            result.label.as_deref(),
            result.stage.as_deref(),
            Some(if result.disqualified { "true" } else { "false" }),
            None,
            route.map(|r| r.route.as_str()),
            route.map(|r| r.team.as_str()),
        ] {
            self.csv.write_field(text.unwrap_or_default())?;
        }
        for i in 0..self.groups.len() {
            let points = result
                .groups
                .iter()
                .find(|(name, _)| *name == self.groups[i])
                .map(|&(_, points)| points);
            match points {
                Some(points) => self.num(points)?,
                None => self.csv.write_field("")?,
            }
        }
        if self.probability {
            match &result.prediction {
                Some(p) => self.num(p.probability)?,
                None => self.csv.write_field("")?,
            }
        }
        if self.explain {
            self.buf.clear();
            for (i, line) in result.explain.iter().enumerate() {
                if i > 0 {
                    self.buf.push(';');
                }
                self.buf.push_str(&line.rule);
                self.buf.push('=');
                Num(line.points).write_to(&mut self.buf);
            }
            self.csv.write_field(&self.buf)?;
        }
        Ok(self.csv.write_record(None::<&[u8]>)?)
    }

    /// Flush and return the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.csv.flush()?;
        self.csv
            .into_inner()
            .map_err(|e| io::Error::other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(x: f64) -> String {
        serde_json::to_string(&Num(x)).unwrap_or_default()
    }

    #[test]
    fn numbers_are_rounded_and_whole_numbers_have_no_fraction() {
        assert_eq!(json(73.400_000_000_01), "73.4");
        assert_eq!(json(35.0), "35");
        assert_eq!(json(-0.0), "0");
        assert_eq!(json(-15.0), "-15");
        assert_eq!(json(0.1 + 0.2), "0.3");
        assert_eq!(json(1.234_567_89), "1.234568");
        assert_eq!(json(0.000_000_4), "0");
        assert_eq!(json(f64::NAN), "null");
        assert_eq!(json(1e300), "1e+300");
    }

    #[test]
    fn csv_numbers_match_json_numbers() {
        for x in [73.400_000_000_01, 35.0, -0.0, 0.1 + 0.2, 1.234_567_89, -2.5] {
            let mut text = String::new();
            Num(x).write_to(&mut text);
            assert_eq!(text, json(x));
        }
    }
}
