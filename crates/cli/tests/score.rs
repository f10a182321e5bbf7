//! `leadscore score` end to end.

use std::collections::HashMap;
use std::path::Path;

use leadscore_engine::{
    Attributes, Engine, Event, Identify, Member, ScoreResult, account_key, score_account,
};
use leadscore_formats::{ContactsReader, JsonlWriter, MessageKind, parse_message, parse_timestamp};

use crate::support::{generated, jsonl, leadscore, s, scratch, stderr, stdout};

const AS_OF: &str = "2026-11-01T00:00:00Z";
const MODEL: &str = "examples/b2b.toml";

fn score(dir: &Path, events: &str, extra: &[&str]) -> std::process::Output {
    score_at(dir, events, AS_OF, extra)
}

/// `leadscore score` on `dir/contacts.csv` and `dir/EVENTS` as of `as_of`.
fn score_at(dir: &Path, events: &str, as_of: &str, extra: &[&str]) -> std::process::Output {
    let contacts = dir.join("contacts.csv");
    let events = dir.join(events);
    let mut args = vec![
        "score",
        "--model",
        MODEL,
        "--contacts",
        s(&contacts),
        "--events",
        s(&events),
        "--as-of",
        as_of,
    ];
    args.extend_from_slice(extra);
    leadscore(&args)
}

/// What the CLI must print, computed the plain way: every message parsed into an owned
/// event, anonymous ids linked by identify calls at or before `as_of`, and each contact
/// scored by the engine's batch path from its full event list.
fn expected_output(dir: &Path, as_of: &str, explain: bool) -> String {
    let (_, now, results) = plain_results(dir, as_of);
    let mut out = JsonlWriter::new(Vec::new(), explain);
    for (id, _, result) in results {
        out.write(&id, now, &result).expect("write");
    }
    String::from_utf8(out.finish().expect("finish")).expect("utf-8")
}

/// Every contact scored the plain way (see [`expected_output`]), in output order, with
/// its attributes as of `as_of`.
fn plain_results(dir: &Path, as_of: &str) -> (Engine, i64, Vec<(String, Attributes, ScoreResult)>) {
    let text = std::fs::read_to_string(MODEL_PATH()).expect("model");
    let engine = Engine::new(
        leadscore_model::load("b2b.toml", &text)
            .expect("valid")
            .model,
    );
    let now = parse_timestamp(as_of).expect("as_of");
    let lines = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    let messages: Vec<_> = lines
        .lines()
        .filter_map(|l| parse_message(l).ok())
        .collect();
    let mut links: HashMap<String, (i64, String)> = HashMap::new();
    for m in &messages {
        if let (MessageKind::Identify, Some(user), Some(anon)) =
            (m.kind, &m.user_id, &m.anonymous_id)
            && m.timestamp <= now
        {
            let entry = links
                .entry(anon.to_string())
                .or_insert((m.timestamp, user.to_string()));
            if m.timestamp < entry.0 {
                *entry = (m.timestamp, user.to_string());
            }
        }
    }
    let mut events: HashMap<String, Vec<Event>> = HashMap::new();
    let mut identifies: HashMap<String, Vec<Identify>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for m in &messages {
        let owner = match (&m.user_id, &m.anonymous_id) {
            (Some(user), _) => user.to_string(),
            (None, Some(anon)) => match links.get(anon.as_ref()) {
                Some((_, user)) => user.clone(),
                None => continue,
            },
            _ => continue,
        };
        if !events.contains_key(&owner) && !identifies.contains_key(&owner) {
            order.push(owner.clone());
        }
        if m.kind == MessageKind::Identify {
            let traits = m.traits().expect("traits");
            identifies.entry(owner).or_default().push((
                m.timestamp,
                m.message_id.as_deref().map(str::to_owned),
                traits,
            ));
        } else if m.kind.is_event() {
            events.entry(owner).or_default().push(m.to_event());
        } else {
            events.entry(owner).or_default();
        }
    }
    let mut out = Vec::new();
    let mut done = std::collections::HashSet::new();
    let reader = ContactsReader::open(dir.join("contacts.csv")).expect("contacts");
    let mut rows: Vec<(String, Attributes)> =
        reader.flatten().map(|r| (r.id, r.attributes)).collect();
    rows.extend(order.into_iter().map(|id| (id, Attributes::new())));
    for (id, attributes) in rows {
        if !done.insert(id.clone()) {
            continue;
        }
        let evs = events.get(&id).cloned().unwrap_or_default();
        let ids = identifies.get(&id).cloned().unwrap_or_default();
        let (result, attributes) =
            engine.score_keeping_attributes(attributes, &evs, &ids, &[], now);
        out.push((id, attributes, result));
    }
    (engine, now, out)
}

#[allow(non_snake_case)]
fn MODEL_PATH() -> std::path::PathBuf {
    crate::support::root().join(MODEL)
}

#[test]
fn streaming_cli_matches_the_engine_batch_path_on_every_contact() {
    let dir = generated("score-match", 400, 3);
    let out = score(&dir, "events.jsonl", &["--explain"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let expected = expected_output(&dir, AS_OF, true);
    assert_eq!(stdout(&out).lines().count(), expected.lines().count());
    for (got, want) in stdout(&out).lines().zip(expected.lines()) {
        assert_eq!(got, want);
    }
    // The data set really exercises the model: some contacts score, some are routed.
    let results = jsonl(&stdout(&out));
    assert!(results.iter().any(|r| r["score"].as_i64() > Some(50)));
    assert!(results.iter().any(|r| !r["route"].is_null()));
}

#[test]
fn account_output_matches_the_engine_account_function_on_every_account() {
    let dir = generated("score-accounts", 400, 3);
    let accounts_path = dir.join("accounts.jsonl");
    let out = score(&dir, "events.jsonl", &["--accounts", s(&accounts_path)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = std::fs::read_to_string(&accounts_path).expect("accounts file");
    let got = jsonl(&text);

    let (engine, _, results) = plain_results(&dir, AS_OF);
    let model = engine.model();
    let account = model
        .account
        .as_ref()
        .expect("examples/b2b.toml has [account]");
    let mut by_key: HashMap<String, Vec<Member<'_>>> = HashMap::new();
    let mut without = 0;
    for (id, attributes, result) in &results {
        match account_key(account, attributes) {
            Some(key) => by_key
                .entry(key)
                .or_default()
                .push(Member::new(id, attributes, result)),
            None => without += 1,
        }
    }
    let mut expected: Vec<_> = by_key
        .iter()
        .filter_map(|(key, members)| score_account(model, key, members))
        .collect();
    leadscore_engine::rank_accounts(&mut expected);
    /// The documented line: the account result, then `as_of`.
    #[derive(serde::Serialize)]
    struct Line<'a> {
        #[serde(flatten)]
        result: &'a leadscore_engine::AccountResult,
        as_of: &'a str,
    }
    assert_eq!(text.lines().count(), expected.len());
    for (got, want) in text.lines().zip(&expected) {
        let want = serde_json::to_string(&Line {
            result: want,
            as_of: AS_OF,
        })
        .expect("json");
        assert_eq!(got, want);
    }
    // The data really has accounts: free-mail contacts have none, most others share one,
    // and some accounts are buying groups handed to one team.
    assert!(without > 0, "some contacts use free mail");
    assert!(
        got.iter()
            .any(|a| a["members"].as_array().map_or(0, Vec::len) >= 3)
    );
    assert!(
        got.iter()
            .any(|a| a["stage"] == "buying-group" && !a["route"].is_null())
    );
    let members: usize = got
        .iter()
        .map(|a| a["members"].as_array().map_or(0, Vec::len))
        .sum();
    assert_eq!(
        members + without,
        results.len(),
        "every contact is in at most one account"
    );
}

#[test]
fn accounts_need_an_account_table_in_the_model() {
    let dir = generated("score-no-accounts", 20, 3);
    let model = dir.join("plain.toml");
    std::fs::write(&model, "version = 1\nname = \"plain\"\n").expect("write");
    let out = leadscore(&[
        "score",
        "--model",
        s(&model),
        "--contacts",
        s(&dir.join("contacts.csv")),
        "--events",
        s(&dir.join("events.jsonl")),
        "--accounts",
        s(&dir.join("accounts.jsonl")),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--accounts needs an `[account]` table"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("accounts.jsonl").exists());
}

#[test]
fn event_order_and_duplicate_lines_do_not_change_any_result() {
    let dir = generated("score-order", 300, 5);
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    let mut lines: Vec<&str> = text.lines().collect();
    // Reverse, then repeat every seventh line (a redelivery: same messageId).
    lines.reverse();
    let mut shuffled: Vec<&str> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        shuffled.push(line);
        if i % 7 == 0 {
            shuffled.push(line);
        }
    }
    std::fs::write(dir.join("shuffled.jsonl"), shuffled.join("\n") + "\n").expect("write");
    let a = score(&dir, "events.jsonl", &["--explain"]);
    let b = score(&dir, "shuffled.jsonl", &["--explain"]);
    assert!(a.status.success() && b.status.success());
    // Contacts known only from events are listed in first-seen order, which reversing
    // changes; compare results as a set.
    let mut a_lines: Vec<String> = stdout(&a).lines().map(str::to_owned).collect();
    let mut b_lines: Vec<String> = stdout(&b).lines().map(str::to_owned).collect();
    a_lines.sort();
    b_lines.sort();
    assert_eq!(a_lines, b_lines);
}

#[test]
fn events_after_as_of_do_not_exist() {
    let dir = generated("score-asof", 300, 8);
    let as_of = "2026-08-01T00:00:00Z";
    let cut = parse_timestamp(as_of).expect("ts");
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    let before: Vec<&str> = text
        .lines()
        .filter(|l| parse_message(l).map(|m| m.timestamp <= cut).unwrap_or(true))
        .collect();
    assert!(
        before.len() < text.lines().count(),
        "the cut must drop some events"
    );
    std::fs::write(dir.join("before.jsonl"), before.join("\n")).expect("write");
    let run = |events: &str| {
        let out = score_at(&dir, events, as_of, &["--explain"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let mut lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(run("events.jsonl"), run("before.jsonl"));
}

#[test]
fn malformed_lines_are_reported_with_their_number_and_skipped() {
    let dir = generated("score-bad", 200, 9);
    let clean = score(&dir, "events.jsonl", &[]);
    let text = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(4, "{not json");
    lines.insert(
        9,
        r#"{"type":"track","userId":"c-1","timestamp":"2026-05-01T00:00:00Z"}"#,
    );
    lines.insert(
        14,
        r#"{"type":"track","event":"Email Opened","userId":"c-1","timestamp":"yesterday"}"#,
    );
    std::fs::write(dir.join("bad.jsonl"), lines.join("\n")).expect("write");

    let out = score(&dir, "bad.jsonl", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    for number in [5, 10, 15] {
        assert!(
            err.contains(&format!("bad.jsonl:{number}:")),
            "line {number} not reported: {err}"
        );
    }
    assert!(err.contains("3 malformed"), "{err}");
    assert_eq!(
        stdout(&out),
        stdout(&clean),
        "good lines must score as before"
    );

    let strict = score(&dir, "bad.jsonl", &["--strict"]);
    assert_eq!(strict.status.code(), Some(1));
    assert!(
        stderr(&strict).contains("bad.jsonl:5:"),
        "{}",
        stderr(&strict)
    );
}

#[test]
fn bad_contact_rows_are_reported_and_skipped() {
    let dir = generated("score-badrow", 50, 10);
    let text = std::fs::read_to_string(dir.join("contacts.csv")).expect("contacts");
    let header = text.lines().next().expect("header");
    let columns = header.split(',').count();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Line 4: a row without an id (but with an e-mail address).
    lines.insert(
        3,
        format!(",someone@buyer.example{}", ",".repeat(columns - 2)),
    );
    std::fs::write(dir.join("contacts.csv"), lines.join("\n") + "\n").expect("write");
    let out = score(&dir, "events.jsonl", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("contacts.csv:4"), "{}", stderr(&out));
}

#[test]
fn explanation_lines_sum_to_raw_for_every_contact() {
    let dir = generated("score-explain", 300, 4);
    let out = score(&dir, "events.jsonl", &["--explain"]);
    assert!(out.status.success());
    for result in jsonl(&stdout(&out)) {
        let sum: f64 = result["explain"]
            .as_array()
            .expect("explain")
            .iter()
            .map(|l| l["points"].as_f64().expect("points"))
            .sum();
        let raw = result["raw"].as_f64().expect("raw");
        // Each printed number is rounded to 6 decimals.
        let lines = result["explain"].as_array().map_or(0, Vec::len) as f64;
        assert!((sum - raw).abs() <= 1e-6 * (lines + 1.0), "{result}");
    }
}

#[test]
fn csv_output_has_a_header_and_one_row_per_contact() {
    let dir = generated("score-csv", 100, 6);
    let json = score(&dir, "events.jsonl", &[]);
    let csv = score(&dir, "events.jsonl", &["--format", "csv"]);
    assert!(csv.status.success());
    let text = stdout(&csv);
    let header = text.lines().next().expect("header");
    assert!(
        header.starts_with("contact_id,as_of,score,raw,fit,engagement,manual,grade,label,stage")
    );
    assert!(header.contains("group:"), "{header}");
    assert_eq!(text.lines().count() - 1, stdout(&json).lines().count());
}

#[test]
fn anonymous_activity_joins_the_contact_once_identified() {
    let dir = scratch("score-anon");
    std::fs::write(
        dir.join("contacts.csv"),
        "id,email,job_title,country\nc-1,ana@buyer.example,CTO,DE\n",
    )
    .expect("write");
    let pricing = |id: &str, day: u32| {
        format!(
            r#"{{"type":"page","anonymousId":"a-1","messageId":"{id}","timestamp":"2026-10-{day:02}T10:00:00Z","properties":{{"url":"https://www.example.com/pricing"}}}}"#
        )
    };
    let identify = |day: u32| {
        format!(
            r#"{{"type":"identify","userId":"c-1","anonymousId":"a-1","messageId":"i-{day}","timestamp":"2026-10-{day:02}T12:00:00Z","traits":{{"industry":"Software"}}}}"#
        )
    };
    let run = |identify_day: u32, as_of: &str| {
        let lines = [
            pricing("p-1", 20),
            pricing("p-2", 21),
            identify(identify_day),
        ];
        std::fs::write(dir.join("events.jsonl"), lines.join("\n")).expect("write");
        let out = score_at(&dir, "events.jsonl", as_of, &["--explain"]);
        assert!(out.status.success(), "{}", stderr(&out));
        jsonl(&stdout(&out)).remove(0)
    };
    let linked = run(22, "2026-10-25T00:00:00Z");
    let not_yet = run(26, "2026-10-25T00:00:00Z");
    let rules = |r: &serde_json::Value| -> Vec<String> {
        r["explain"]
            .as_array()
            .expect("explain")
            .iter()
            .map(|l| l["rule"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert!(
        linked["engagement"].as_f64() > not_yet["engagement"].as_f64(),
        "linked {linked} vs not yet {not_yet}"
    );
    assert!(rules(&linked).len() > rules(&not_yet).len());
}

#[test]
fn a_contact_known_only_from_events_still_gets_a_result() {
    let dir = scratch("score-only-events");
    std::fs::write(
        dir.join("contacts.csv"),
        "id,email\nc-1,ana@buyer.example\n",
    )
    .expect("write");
    std::fs::write(
        dir.join("events.jsonl"),
        r#"{"type":"track","event":"Demo Requested","userId":"c-9","messageId":"m-1","timestamp":"2026-10-01T00:00:00Z"}"#,
    )
    .expect("write");
    let out = score(&dir, "events.jsonl", &[]);
    let results = jsonl(&stdout(&out));
    let ids: Vec<&str> = results
        .iter()
        .map(|r| r["contact_id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, ["c-1", "c-9"]);
    assert!(results[1]["engagement"].as_f64() > Some(0.0));
}

#[test]
fn a_repeated_contact_row_is_reported_and_the_first_counts() {
    let dir = scratch("score-dup-row");
    std::fs::write(
        dir.join("contacts.csv"),
        "id,email,job_title\nc-1,ana@buyer.example,CTO\nc-2,bo@buyer.example,Intern\nc-1,ana@buyer.example,Intern\n",
    )
    .expect("write");
    std::fs::write(dir.join("events.jsonl"), "").expect("write");
    let out = score(&dir, "events.jsonl", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("contacts.csv:4"), "{}", stderr(&out));
    let results = jsonl(&stdout(&out));
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["contact_id"], "c-1");
    let once = score_at(&dir, "events.jsonl", AS_OF, &[]);
    assert_eq!(jsonl(&stdout(&once))[0]["fit"], results[0]["fit"]);
}

/// The example's routing holds for every contact of a generated set: above 100 to
/// team `sales-b` (route `enterprise`), above 50 to `sales-a` (`inbound`), nobody at 50
/// or below, and no disqualified contact is handed over.
#[test]
fn the_example_routing_holds_for_every_contact() {
    let dir = generated("score-routes", 2_000, 11);
    let out = score(&dir, "events.jsonl", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let results = jsonl(&stdout(&out));
    assert_eq!(results.len(), 2_000);
    let (mut enterprise, mut inbound, mut none) = (0, 0, 0);
    for r in &results {
        // Routes compare the clamped, unrounded score: `raw` clamped at the example's
        // `min = 0` (it sets no `max`).
        let score = r["raw"].as_f64().expect("raw").max(0.0);
        let route = &r["route"];
        if r["disqualified"] == true || score <= 50.0 {
            assert!(route.is_null(), "{r}");
            none += 1;
        } else if score > 100.0 {
            assert_eq!(route["route"], "enterprise", "{r}");
            assert_eq!(route["team"], "sales-b", "{r}");
            enterprise += 1;
        } else {
            assert_eq!(route["route"], "inbound", "{r}");
            assert_eq!(route["team"], "sales-a", "{r}");
            inbound += 1;
        }
    }
    // The generated set exercises all three outcomes.
    assert!(
        enterprise > 0 && inbound > 0 && none > 0,
        "{enterprise} {inbound} {none}"
    );
}
