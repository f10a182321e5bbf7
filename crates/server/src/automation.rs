//! Automation after each rescoring: lifecycle stage history, trigger edges and their
//! actions, and routing (assigning an owner round-robin within a team).
//!
//! [`apply`] runs inside [`crate::scoring::rescore`] (so after an ingestion commit, a
//! tick, an activation, an adjustment or a contact update), under that contact's
//! rescoring lock, before the score is saved:
//!
//! 1. **Stage**: the reported stage is the later (in model order) of the engine's stage
//!    and the highest stage recorded in `stage_history` (a `set_stage` action can move
//!    a contact beyond what its criteria say; stages never move back). When the
//!    engine's stage is later than anything recorded, it is recorded with the reason
//!    `stage <id>` (that stage's criteria held; `initial` for the first stage).
//! 2. **Routing**: a contact with a route (the engine gives none to a disqualified
//!    contact or below every route's condition) and no owner is assigned round-robin
//!    within the route's team, skipping members at capacity (the store decides, under
//!    the team's lock). When the contact has an account and the model has
//!    `[[account.route]]`s, the account comes first: an account with an owner gets
//!    the contact; one without is scored ([`crate::accounts::account_of`]) and, when
//!    an account route matches, gets an owner round-robin within that route's team
//!    and the contact with it (see `docs/automation.md`, "Accounts: one owner").
//! 3. **Triggers**: when the result's `triggers_active` differs from the stored
//!    trigger states, the whole set is recorded in one store transaction that also
//!    enqueues the outbox rows (webhook, e-mail), tags and `set_stage` of each edge
//!    ([`leadscore_store::Automation::record_triggers`]); then `assign` actions run.
//!    When nothing changed (the common case on a tick) nothing is written.
//! 4. **Accounts**: after the batch's scores are saved, the accounts it touched are
//!    automated once each ([`crate::accounts::settle`]: account trigger edges, an
//!    account owner for an unowned account over an account route, which gathers the
//!    members its team owns, and the release of an account left without members).
//!
//! Reading the stored state first is only an optimisation: every write is conditional,
//! so two servers that rescore one contact at once record each edge once.

use std::collections::HashSet;

use leadscore_engine::{Engine, ScoreResult};
use leadscore_formats::ResultJson;
use leadscore_model::Action;
use leadscore_store::automation::{
    AccountAssignRequest, AssignRequest, Assigned, ContactAutomation, OutboxAction, StageChange,
    TriggerCheck, TriggerStatus, kind,
};
use leadscore_store::{Automation as _, Millis, StoredScore};

use crate::error::{Error, Result};
use crate::state::AppState;

/// Run the automation for `id`'s fresh `result` (as of `now`): records stage changes,
/// edges and assignments, sets the result's stage to the reported one, and returns
/// the contact's owner.
pub async fn apply(
    state: &AppState,
    id: &str,
    now: Millis,
    result: &mut ScoreResult,
) -> Result<Option<String>> {
    let current = state.store.automation_state(id).await?;
    apply_with(state, id, now, result, current).await
}

/// [`apply`] with the contact's automation state already read (a rescoring batch
/// reads all its contacts' states at once).
pub async fn apply_with(
    state: &AppState,
    id: &str,
    now: Millis,
    result: &mut ScoreResult,
    current: ContactAutomation,
) -> Result<Option<String>> {
    let engine = state.engine();
    let model = engine.model();

    // 1. Stage.
    if let Some(change) = stage_change(model, id, now, result, &current) {
        state.store.record_stage(&change).await?;
    }
    route_and_trigger(state, id, now, result, current, &mut HashSet::new()).await
}

/// The stage step of [`apply`], without the store: sets `result`'s stage to the
/// reported one (the later of the engine's stage and the stages recorded) and returns
/// the stage change to record, if the rules moved the contact on.
pub fn stage_change(
    model: &leadscore_model::CompiledModel,
    id: &str,
    now: Millis,
    result: &mut ScoreResult,
    current: &ContactAutomation,
) -> Option<StageChange> {
    let index = |stage: &str| model.stages.iter().position(|s| s.id == stage);
    let mut reported = current.stages.iter().filter_map(|c| index(&c.stage)).max();
    let mut change = None;
    if let Some(engine_stage) = result.stage.as_deref().and_then(index)
        && reported.is_none_or(|r| engine_stage > r)
    {
        let stage = &model.stages[engine_stage].id;
        change = Some(StageChange {
            contact_id: id.to_owned(),
            stage: stage.clone(),
            reason: if engine_stage == 0 {
                "initial".to_owned()
            } else {
                format!("stage {stage}")
            },
            actor: "rules".to_owned(),
            at: now,
        });
        reported = Some(engine_stage);
    }
    if let Some(r) = reported {
        result.stage = Some(model.stages[r].id.clone());
    }
    change
}

/// The routing and trigger steps of [`apply`], after the stage step recorded its
/// change; returns the contact's owner.
///
/// `full` holds the teams found at capacity earlier in the same rescoring batch: no
/// later contact of the batch can be handed to them (only a release frees a slot, and
/// releases happen on activation, before any batch), so they are not asked again.
/// Without it a batch of contacts routed to a full team would cost a write
/// transaction (and a warning) each.
pub async fn route_and_trigger(
    state: &AppState,
    id: &str,
    now: Millis,
    result: &mut ScoreResult,
    current: ContactAutomation,
    full: &mut HashSet<String>,
) -> Result<Option<String>> {
    let engine = state.engine();
    let model = engine.model();
    // The stage step left the reported stage in the result.
    let mut reported = result
        .stage
        .as_deref()
        .and_then(|stage| model.stages.iter().position(|s| s.id == stage));

    // 2. Routing.
    let mut owner = current.owner.map(|o| o.owner);
    if owner.is_none()
        && !result.disqualified
        && let Some(route) = &result.route
    {
        owner = match assign_to_account(state, &engine, id, result, now).await? {
            Some(account_owner) => account_owner,
            None if !full.contains(&route.team) => {
                let assigned = assign(
                    state,
                    &engine,
                    id,
                    &route.team,
                    Some(&route.route),
                    format!("route {}", route.route),
                    now,
                )
                .await?;
                if assigned.is_none() {
                    full.insert(route.team.clone());
                }
                assigned
            }
            None => None,
        };
    }

    // 3. Triggers.
    let stored: HashSet<&str> = current
        .triggers
        .iter()
        .filter(|t| t.active)
        .map(|t| t.trigger_id.as_str())
        .collect();
    let active: HashSet<&str> = result.triggers_active.iter().map(String::as_str).collect();
    let changed = model
        .triggers
        .iter()
        .any(|t| active.contains(t.id.as_str()) != stored.contains(t.id.as_str()));
    if !changed {
        return Ok(owner);
    }
    let check = TriggerCheck {
        contact_id: id.to_owned(),
        at: now,
        triggers: model
            .triggers
            .iter()
            .map(|t| trigger_status(&engine, t, active.contains(t.id.as_str())))
            .collect(),
        snapshot: result_json(id, now, result, owner.as_deref())?,
    };
    let fired = state.store.record_triggers(&check).await?;
    if fired.is_empty() {
        return Ok(owner);
    }
    state.automation.count_fired(fired.len());
    let mut enqueued = false;
    for edge in &fired {
        tracing::info!(contact = id, trigger = %edge.trigger_id, fires = edge.fires,
            deliveries = edge.deliveries.len(), "trigger fired");
        enqueued |= !edge.deliveries.is_empty();
        let Some(trigger) = model.triggers.iter().find(|t| t.id == edge.trigger_id) else {
            continue;
        };
        for action in &trigger.actions {
            match action {
                Action::SetStage(stage) if reported.is_none_or(|r| *stage > r) => {
                    reported = Some(*stage);
                    result.stage = Some(model.stages[*stage].id.clone());
                }
                Action::Assign(team) if owner.is_none() && !result.disqualified => {
                    let reason = format!("trigger {}", trigger.id);
                    match team {
                        Some(team) => {
                            let name = &model.teams[*team].name;
                            owner = assign(state, &engine, id, name, None, reason, now).await?;
                        }
                        // `assign = "route"`: the first matching route, if any.
                        None => {
                            if let Some(route) = &result.route {
                                owner = match assign_to_account(state, &engine, id, result, now)
                                    .await?
                                {
                                    Some(account_owner) => account_owner,
                                    None => {
                                        assign(
                                            state,
                                            &engine,
                                            id,
                                            &route.team,
                                            Some(&route.route),
                                            reason,
                                            now,
                                        )
                                        .await?
                                    }
                                };
                            }
                        }
                    }
                }
                _ => {}
            }
        }
    }
    if enqueued {
        state.automation.wake.notify_one();
    }
    Ok(owner)
}

/// What to record for trigger `t` (active or not) and what its edge enqueues.
pub(crate) fn trigger_status(
    engine: &Engine,
    t: &leadscore_model::Trigger,
    active: bool,
) -> TriggerStatus {
    let mut status = TriggerStatus {
        trigger_id: t.id.clone(),
        active,
        outbox: Vec::new(),
        tags: Vec::new(),
        set_stage: None,
    };
    for (index, action) in t.actions.iter().enumerate() {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        match action {
            Action::Webhook(url) => status.outbox.push(OutboxAction {
                index,
                kind: kind::WEBHOOK.to_owned(),
                target: url.clone(),
            }),
            Action::Notify(address) => status.outbox.push(OutboxAction {
                index,
                kind: kind::EMAIL.to_owned(),
                target: address.clone(),
            }),
            Action::Tag(tag) => status.tags.push(tag.clone()),
            Action::SetStage(stage) => {
                status.set_stage = engine.model().stages.get(*stage).map(|s| s.id.clone());
            }
            Action::Assign(_) => {}
        }
    }
    status
}

/// Assign `id` within `team` (by name); returns the owner afterwards (`None`: every
/// member is at capacity, or the team is not in the model).
async fn assign(
    state: &AppState,
    engine: &Engine,
    id: &str,
    team: &str,
    route: Option<&str>,
    reason: String,
    now: Millis,
) -> Result<Option<String>> {
    let Some(team) = engine.model().teams.iter().find(|t| t.name == team) else {
        return Ok(None);
    };
    let assigned = state
        .store
        .assign_owner(&AssignRequest {
            contact_id: id.to_owned(),
            team: team.name.clone(),
            members: team.members.clone(),
            capacity: team.capacity,
            route: route.map(str::to_owned),
            reason,
            at: now,
        })
        .await?;
    Ok(match assigned {
        Assigned::New(owner) => {
            tracing::info!(contact = id, owner = %owner.owner, team = %owner.team, "assigned");
            state.automation.count_assigned();
            Some(owner.owner)
        }
        Assigned::Existing(owner) => Some(owner.owner),
        Assigned::Full => {
            tracing::warn!(contact = id, team = %team.name,
                "every member of the team is at capacity; the contact stays unassigned");
            None
        }
    })
}

/// Hand `id` to its account's owner: the account's stored owner, or, when it has
/// none and an `[[account.route]]` matches the account scored with this `result`, a
/// member of that route's team, who becomes the account's owner. `None`: the account
/// part does not apply (no account, no account routes, no matching account route, or
/// the owner's team is not in the model), so the contact's own route assigns it;
/// `Some(None)`: the account has no owner yet and its team is at capacity.
async fn assign_to_account(
    state: &AppState,
    engine: &Engine,
    id: &str,
    result: &ScoreResult,
    now: Millis,
) -> Result<Option<Option<String>>> {
    let model = engine.model();
    let Some(account) = &result.account else {
        return Ok(None);
    };
    if model.account.as_ref().is_none_or(|a| a.routes.is_empty()) {
        return Ok(None);
    }
    let (team, route) = match state.store.account_owner(&account.key).await? {
        Some(owner) => (owner.team, owner.route),
        None => match crate::accounts::account_of(state, id, result)
            .await?
            .and_then(|a| a.route)
        {
            Some(route) => (route.team, Some(route.route)),
            None => return Ok(None),
        },
    };
    let Some(team) = model.teams.iter().find(|t| t.name == team) else {
        return Ok(None);
    };
    let reason = match &route {
        Some(route) => format!("account {} (route {route})", account.key),
        None => format!("account {}", account.key),
    };
    let (assigned, moved) = state
        .store
        .assign_account(&AccountAssignRequest {
            account_key: account.key.clone(),
            contact: AssignRequest {
                contact_id: id.to_owned(),
                team: team.name.clone(),
                members: team.members.clone(),
                capacity: team.capacity,
                route,
                reason,
                at: now,
            },
        })
        .await?;
    gathered(state, &account.key, moved);
    Ok(Some(match assigned {
        Assigned::New(owner) => {
            tracing::info!(contact = id, account = %account.key, owner = %owner.owner,
                team = %owner.team, "assigned to the account's owner");
            state.automation.count_assigned();
            Some(owner.owner)
        }
        Assigned::Existing(owner) => Some(owner.owner),
        Assigned::Full => {
            tracing::warn!(contact = id, account = %account.key, team = %team.name,
                "every member of the account's team is at capacity; the account stays unassigned");
            None
        }
    }))
}

/// After account `key` got its owner: the contacts `moved` to that owner from other
/// reps of its team are rescored in the background, so that their stored results
/// name their new owner.
pub(crate) fn gathered(state: &AppState, key: &str, moved: Vec<String>) {
    if moved.is_empty() {
        return;
    }
    tracing::info!(
        account = key,
        contacts = moved.len(),
        "buying group gathered: contacts moved to the account owner"
    );
    state.committer.rescore_later(state, moved);
}

/// The documented result JSON (with `explain`) and its owner.
pub fn result_json(
    id: &str,
    as_of: Millis,
    result: &ScoreResult,
    owner: Option<&str>,
) -> Result<String> {
    serde_json::to_string(
        &ResultJson::new(id, as_of, result)
            .with_explain(true)
            .with_owner(owner),
    )
    .map_err(|e| Error::Internal(format!("cannot serialize a result: {e}")))
}

/// A result as the store keeps it, with its owner.
pub fn stored_score(
    id: &str,
    as_of: Millis,
    result: &ScoreResult,
    owner: Option<&str>,
) -> Result<StoredScore> {
    Ok(StoredScore {
        contact_id: id.to_owned(),
        as_of,
        score: result.clamped,
        label: result.label.clone(),
        grade: result.grade.clone(),
        stage: result.stage.clone(),
        result: result_json(id, as_of, result, owner)?,
    })
}

/// After activating `engine`'s model: release the contacts owned by someone who is
/// no longer a member of that team (or whose team is gone), so that rescoring routes
/// them again. Returns the contacts released.
pub async fn release_removed_members(state: &AppState, engine: &Engine) -> Result<Vec<String>> {
    let teams: Vec<(String, Vec<String>)> = engine
        .model()
        .teams
        .iter()
        .map(|t| (t.name.clone(), t.members.clone()))
        .collect();
    let released = state
        .store
        .release_owners(&teams, "member removed", crate::scoring::now())
        .await?;
    if !released.is_empty() {
        tracing::info!(
            contacts = released.len(),
            "owners no longer in their team released; routing them again"
        );
    }
    Ok(released)
}
