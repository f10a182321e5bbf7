//! The result of scoring one contact as of one instant, with its explanation.

use serde::Serialize;

/// What kind of contribution an explanation line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LineKind {
    /// A fit rule.
    Fit,
    /// An engagement rule fed by events.
    Engagement,
    /// An engagement rule counting missing reactions.
    Absence,
    /// The machine opens or clicks of an engagement rule (`[machine]`): their count,
    /// the share of points they earned, and why they are a machine's (`reason`).
    Machine,
    /// A manual adjustment.
    Manual,
    /// The clamp to `[score]` bounds; its points are always 0 (lines sum to `raw`, the
    /// value before the clamp), `clamped_to` says where the score went.
    Clamp,
}

/// One line of an explanation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExplainLine {
    /// Rule id (`manual` for adjustments, `clamp` for the clamp).
    pub rule: String,
    /// The rule's label, or the adjustment's reason.
    pub label: Option<String>,
    /// What kind of line.
    pub kind: LineKind,
    /// Counted occurrences (1 for fit rules and each adjustment).
    pub count: u32,
    /// Points after decay and caps.
    pub points: f64,
    /// The rule's group, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Occurrences seen but not counted (limit reached), so a person sees why.
    #[serde(skip_serializing_if = "is_zero")]
    pub not_counted: u32,
    /// Points the group cap took from this line (positive number), when it took any.
    #[serde(skip_serializing_if = "is_zero_f")]
    pub capped: f64,
    /// Adjustment author (manual lines only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// For the clamp line: the score the clamp produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clamped_to: Option<f64>,
    /// For a machine line: why these opens or clicks are a machine's, with counts
    /// (`28 within seconds of delivery, 2 flagged by the provider`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_f(n: &f64) -> bool {
    *n == 0.0
}

/// The account a contact belongs to under `[account]` (see [`crate::account_key`]), with
/// the attributes account scoring reads ([`crate::account_fields`]), so that an account
/// can be scored from its members' results alone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountRef {
    /// The account key.
    pub key: String,
    /// The member's attributes that account rules read, as of the result's instant, as
    /// text (numbers as written without a spurious `.0`).
    pub attributes: std::collections::BTreeMap<String, crate::Value>,
}

/// The route a contact would take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteResult {
    /// Route id.
    pub route: String,
    /// Team name.
    pub team: String,
}

/// A contact's score as of one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreResult {
    /// `raw` clamped to the model's bounds, rounded half away from zero.
    pub score: i64,
    /// `fit + engagement + manual`, before the clamp, unrounded.
    pub raw: f64,
    /// The clamped, unrounded score: what thresholds and rankings compare.
    pub clamped: f64,
    /// Fit points.
    pub fit: f64,
    /// Engagement points (after decay and group caps).
    pub engagement: f64,
    /// Manual adjustment points.
    pub manual: f64,
    /// Grade letter from fit points; `None` without `[grades]`.
    pub grade: Option<String>,
    /// Label from the score; `None` without `[labels]` or below the lowest bound.
    pub label: Option<String>,
    /// Every declared group with its points, in declaration order.
    pub groups: Vec<(String, f64)>,
    /// Lifecycle stage id; `None` when the model has no stages.
    pub stage: Option<String>,
    /// True when a disqualify rule matches.
    pub disqualified: bool,
    /// Ids of the matching disqualify rules.
    pub disqualified_by: Vec<String>,
    /// The first matching route, unless disqualified.
    pub route: Option<RouteResult>,
    /// Ids of the triggers whose condition holds as of the result's instant, in model
    /// order; for a disqualified contact only those naming `disqualified = true`.
    pub triggers_active: Vec<String>,
    /// Explanation: fit lines, engagement lines, manual lines, then the clamp line.
    pub explain: Vec<ExplainLine>,
    /// The calibrated conversion probability of the model's `[prediction]` table (the
    /// last tuning run); `None` without the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// The contact's account; `None` without `[account]` or without a usable key.
    pub account: Option<AccountRef>,
}

/// The predictive score: the chance this contact converts, by the calibration of the
/// last tuning run (`[prediction]`), with that run's date and held-out AUC.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// `1 / (1 + exp(-(intercept + slope * clamped)))`, 0 to 1.
    pub probability: f64,
    /// The tuning run's date.
    pub tuned_at: String,
    /// The tuning run's held-out ROC AUC.
    pub auc: f64,
}
