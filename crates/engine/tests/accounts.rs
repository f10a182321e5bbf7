//! Accounts: the key function, hand-computed account scores, the acceptance case under
//! the example model (a buying group outranks one contact with the same activity), and
//! properties (member order never matters; the explanation sums to `raw`).

use leadscore_engine::{
    AccountLineKind, AccountResult, Attributes, Engine, Event, Member, RouteResult, ScoreResult,
    Value, account_key, score_account,
};
use leadscore_model::{CompiledModel, Millis};
use proptest::prelude::*;

const DAY: Millis = 86_400_000;
/// 2026-11-01T00:00:00Z, the README's `--as-of`.
const NOW: Millis = 1_793_491_200_000;

fn load(text: &str) -> CompiledModel {
    match leadscore_model::load("accounts.toml", text) {
        Ok(checked) => checked.model,
        Err(diagnostics) => panic!(
            "{}",
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

const MODEL: &str = r#"
version = 1
name = "accounts"
[lists]
free_mail = ["gmail.com"]
parked = ["n/a"]
[teams.key]
members = ["kim@example.com"]
[account]
key = ["company_id", "email_domain"]
exclude_list = "free_mail"
[[account.fit]]
id = "software"
when = { field = "industry", eq = "Software" }
points = 10
[[account.fit]]
id = "big"
when = { field = "company_size", gte = 1000 }
points = 5
[[account.engagement]]
id = "top2"
top_contacts = { n = 2 }
points = 0.5
[[account.engagement]]
id = "engaged"
engaged_contacts = { min_engagement = 20, max = 2 }
points = 10
[[account.engagement]]
id = "roles"
distinct_roles = { field = "job_title", min_engagement = 10 }
points = 7
[account.labels]
hot = 60
warm = 30
[[account.stage]]
id = "cold"
[[account.stage]]
id = "hot"
when = { score_gte = 60 }
[[account.trigger]]
id = "hot-account"
when = { stage = "hot" }
actions = [ { tag = "hot" } ]
[[account.trigger]]
id = "lost-cause"
when = { disqualified = true }
actions = [ { tag = "competitor" } ]
[[account.route]]
id = "key"
when = { any = [ { score_gte = 50 }, { field = "company_size", gte = 5000 } ] }
assign = { team = "key" }
"#;

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    let mut a = Attributes::new();
    for (k, v) in pairs {
        a.set(*k, Value::Str((*v).to_owned()));
    }
    a
}

struct Contact {
    id: &'static str,
    attributes: Attributes,
    engagement: f64,
    disqualified: bool,
}

fn contact(
    id: &'static str,
    pairs: &[(&str, &str)],
    engagement: f64,
    disqualified: bool,
) -> Contact {
    Contact {
        id,
        attributes: attrs(pairs),
        engagement,
        disqualified,
    }
}

fn members(contacts: &[Contact]) -> Vec<Member<'_>> {
    contacts
        .iter()
        .map(|c| Member {
            id: c.id,
            attributes: &c.attributes,
            engagement: c.engagement,
            disqualified: c.disqualified,
        })
        .collect()
}

fn score(model: &CompiledModel, members: &[Member<'_>]) -> AccountResult {
    match score_account(model, "acme", members) {
        Some(result) => result,
        None => panic!("the model has an [account] table"),
    }
}

#[test]
fn the_first_present_key_attribute_wins_and_excluded_values_fall_through() {
    let model = load(MODEL);
    let Some(account) = &model.account else {
        panic!("no [account]")
    };
    let key = |pairs: &[(&str, &str)]| account_key(account, &attrs(pairs));
    assert_eq!(
        key(&[("company_id", " ACME-42 "), ("email", "jo@acme.example")]),
        Some("acme-42".into())
    );
    assert_eq!(
        key(&[("email", "Jo@Acme.Example")]),
        Some("acme.example".into())
    );
    assert_eq!(
        key(&[("company_id", "  "), ("email", "jo@acme.example")]),
        Some("acme.example".into())
    );
    assert_eq!(
        key(&[("email", "jo@GMail.com")]),
        None,
        "free mail never forms an account"
    );
    assert_eq!(
        key(&[("company_id", "acme-42"), ("email", "jo@gmail.com")]),
        Some("acme-42".into()),
        "a company id wins over a free-mail address"
    );
    assert_eq!(key(&[("job_title", "CTO")]), None);
    let mut numeric = Attributes::new();
    numeric.set("company_id", Value::Num(42.0));
    assert_eq!(account_key(account, &numeric), Some("42".into()));
}

#[test]
fn an_account_scores_fit_on_its_most_common_values_and_aggregates_qualified_members() {
    let model = load(MODEL);
    let contacts = [
        contact(
            "a",
            &[
                ("industry", "Software"),
                ("company_size", "500"),
                ("job_title", "CTO"),
            ],
            40.0,
            false,
        ),
        contact(
            "b",
            &[
                ("industry", "software"),
                ("company_size", "2000"),
                ("job_title", "Engineer"),
            ],
            25.0,
            false,
        ),
        contact(
            "c",
            &[
                ("industry", "Retail"),
                ("company_size", "2000"),
                ("job_title", "engineer "),
            ],
            12.0,
            false,
        ),
        contact(
            "d",
            &[("industry", "Software"), ("job_title", "CFO")],
            90.0,
            true,
        ),
        contact("e", &[], -5.0, false),
    ];
    let result = score(&model, &members(&contacts));
    // Fit: industry software (3 of 4 votes) +10, size 2000 (2 of 3) +5.
    // Qualified by engagement: a 40, b 25, c 12, e -5 (d is disqualified).
    // top2: (40 + 25) * 0.5 = 32.5; engaged (>= 20, at most 2): a, b = 20;
    // roles (>= 10): cto, engineer (b and c share it) = 2 * 7 = 14.
    let lines: Vec<_> = result
        .explain
        .iter()
        .map(|l| {
            (
                l.rule.as_str(),
                l.kind,
                l.count,
                l.points,
                l.contacts.join(","),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (
                "software",
                AccountLineKind::AccountFit,
                1,
                10.0,
                "a,b,d".to_owned()
            ),
            ("big", AccountLineKind::AccountFit, 1, 5.0, "b,c".to_owned()),
            (
                "top2",
                AccountLineKind::AccountEngagement,
                2,
                32.5,
                "a,b".to_owned()
            ),
            (
                "engaged",
                AccountLineKind::AccountEngagement,
                2,
                20.0,
                "a,b".to_owned()
            ),
            (
                "roles",
                AccountLineKind::AccountEngagement,
                2,
                14.0,
                "a,b".to_owned()
            ),
        ]
    );
    assert_eq!(result.explain[4].roles, ["cto", "engineer"]);
    assert_eq!(result.fit, 15.0);
    assert_eq!(result.engagement, 66.5);
    assert_eq!(result.raw, 81.5);
    assert_eq!(result.score, 82);
    assert_eq!(result.label.as_deref(), Some("hot"));
    assert_eq!(result.stage.as_deref(), Some("hot"));
    assert_eq!(result.triggers_active, ["hot-account"]);
    assert_eq!(
        result.route,
        Some(RouteResult {
            route: "key".into(),
            team: "key".into()
        })
    );
    assert_eq!(result.members, ["a", "b", "c", "d", "e"]);
    assert!(!result.disqualified);
}

#[test]
fn an_account_of_disqualified_members_is_disqualified_and_never_routed() {
    let model = load(MODEL);
    let contacts = [contact(
        "z",
        &[("industry", "Software"), ("company_size", "9000")],
        80.0,
        true,
    )];
    let result = score(&model, &members(&contacts));
    assert!(result.disqualified);
    assert_eq!(
        result.raw, 15.0,
        "fit only: a disqualified member adds no engagement"
    );
    assert_eq!(result.stage.as_deref(), Some("cold"));
    assert_eq!(
        result.route, None,
        "size 9000 would route, but not a disqualified account"
    );
    assert_eq!(result.triggers_active, ["lost-cause"]);
}

#[test]
fn top_contacts_ignores_members_with_no_positive_engagement() {
    let model = load(MODEL);
    let contacts = [
        contact("a", &[], 30.0, false),
        contact("b", &[], -10.0, false),
        contact("c", &[], 0.0, false),
    ];
    let result = score(&model, &members(&contacts));
    let top = result.explain.iter().find(|l| l.rule == "top2");
    assert_eq!(top.map(|l| (l.count, l.points)), Some((1, 15.0)));
}

#[test]
fn a_model_without_an_account_table_scores_no_account() {
    let model = load("version = 1\nname = \"none\"\n");
    assert_eq!(score_account(&model, "acme", &[]), None);
}

// ------------------------------------------------------------------ the acceptance case

fn example_engine() -> Engine {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/b2b.toml");
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => panic!("{path}: {error}"),
    };
    Engine::new(load(&text))
}

fn page(url: &str, at: Millis) -> Event {
    Event {
        name: "Page Viewed".into(),
        timestamp: at,
        message_id: None,
        fields: vec![("properties.url".into(), Value::Str(url.into()))],
    }
}

fn webinar(at: Millis) -> Event {
    Event {
        name: "Webinar Attended".into(),
        timestamp: at,
        message_id: None,
        fields: Vec::new(),
    }
}

/// Two pricing visits and one webinar, `per` times, on days before `NOW`.
fn activity(per: usize, offset: Millis) -> Vec<Event> {
    (0..per)
        .flat_map(|i| {
            let day = NOW - (i as Millis + 1) * 7 * DAY - offset;
            [
                page("https://www.example.com/pricing", day),
                page("https://www.example.com/pricing?plan=team", day + 3_600_000),
                webinar(day + 7_200_000),
            ]
        })
        .collect()
}

fn company(email: &str, title: &str) -> Attributes {
    attrs(&[
        ("email", email),
        ("job_title", title),
        ("industry", "Software"),
        ("company_size", "800"),
        ("country", "DE"),
    ])
}

#[test]
fn four_engaged_contacts_outrank_one_contact_with_the_same_activity_and_route_to_one_team() {
    let engine = example_engine();
    let model = engine.model();
    let Some(account) = &model.account else {
        panic!("examples/b2b.toml has an [account] table")
    };

    // A buying group: four people of acme.example, each with one round of activity.
    let group: Vec<(String, Attributes, Vec<Event>)> = [
        "CTO",
        "Software Engineer",
        "IT Manager",
        "Purchasing Manager",
    ]
    .iter()
    .enumerate()
    .map(|(i, title)| {
        let attributes = company(&format!("p{i}@acme.example"), title);
        (
            format!("acme-{i}"),
            attributes,
            activity(1, i as Millis * DAY),
        )
    })
    .collect();
    // One person of solo.example doing all of it alone: four rounds.
    let solo_attributes = company("max@solo.example", "CTO");
    let solo_events: Vec<Event> = (0..4)
        .flat_map(|i| activity(1, i as Millis * DAY))
        .collect();
    let total: usize = group.iter().map(|(_, _, e)| e.len()).sum();
    assert_eq!(total, solo_events.len(), "the same total activity");

    let results: Vec<ScoreResult> = group
        .iter()
        .map(|(_, a, e)| engine.score(a.clone(), e, &[], &[], NOW))
        .collect();
    let solo = engine.score(solo_attributes.clone(), &solo_events, &[], &[], NOW);
    for (id, attributes, _) in &group {
        assert_eq!(
            account_key(account, attributes).as_deref(),
            Some("acme.example"),
            "{id}"
        );
    }
    assert_eq!(
        account_key(account, &solo_attributes).as_deref(),
        Some("solo.example")
    );

    let members: Vec<Member<'_>> = group
        .iter()
        .zip(&results)
        .map(|((id, a, _), r)| Member::new(id, a, r))
        .collect();
    let Some(acme) = score_account(model, "acme.example", &members) else {
        panic!("no account result")
    };
    let Some(single) = score_account(
        model,
        "solo.example",
        &[Member::new("solo", &solo_attributes, &solo)],
    ) else {
        panic!("no account result")
    };

    assert!(
        acme.raw > single.raw,
        "buying group {} vs single contact {}: {:#?} {:#?}",
        acme.raw,
        single.raw,
        acme.explain,
        single.explain
    );
    assert_eq!(acme.fit, single.fit, "the same firmographics");
    let engaged = acme.explain.iter().find(|l| l.rule == "engaged-contacts");
    assert_eq!(engaged.map(|l| l.count), Some(4));
    let roles = acme.explain.iter().find(|l| l.rule == "buying-roles");
    assert_eq!(roles.map(|l| l.count), Some(4));
    // One route for the whole account: its four contacts go to one team (and the
    // service gives the account one owner of it), not to whoever each one round-robins to.
    assert_eq!(acme.stage.as_deref(), Some("buying-group"));
    assert_eq!(
        acme.route,
        Some(RouteResult {
            route: "key-account".into(),
            team: "sales-b".into()
        })
    );
    assert_eq!(acme.members, ["acme-0", "acme-1", "acme-2", "acme-3"]);
}

// ------------------------------------------------------------------ properties

fn arb_contacts() -> impl Strategy<Value = Vec<(f64, bool, usize, usize, usize)>> {
    prop::collection::vec(
        (
            (-200i32..2000).prop_map(|n| f64::from(n) / 10.0),
            prop::bool::weighted(0.2),
            0usize..4,
            0usize..4,
            0usize..4,
        ),
        0..12,
    )
}

const INDUSTRIES: [&str; 4] = ["Software", "software ", "Retail", ""];
const TITLES: [&str; 4] = ["CTO", "Engineer", "engineer", "CFO"];
const SIZES: [&str; 4] = ["500", "2000", "2000.0", ""];

fn build(spec: &[(f64, bool, usize, usize, usize)]) -> Vec<(String, Attributes, f64, bool)> {
    spec.iter()
        .enumerate()
        .map(|(i, (engagement, disqualified, industry, title, size))| {
            let attributes = attrs(&[
                ("industry", INDUSTRIES[*industry]),
                ("job_title", TITLES[*title]),
                ("company_size", SIZES[*size]),
            ]);
            (format!("c{i:02}"), attributes, *engagement, *disqualified)
        })
        .collect()
}

fn as_members(contacts: &[(String, Attributes, f64, bool)]) -> Vec<Member<'_>> {
    contacts
        .iter()
        .map(|(id, a, e, d)| Member {
            id,
            attributes: a,
            engagement: *e,
            disqualified: *d,
        })
        .collect()
}

fn shuffle<T>(items: &mut [T], mut seed: u64) {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = (seed >> 33) as usize % (i + 1);
        items.swap(i, j);
    }
}

proptest! {
    /// The members' order never changes the result, to the bit.
    #[test]
    fn member_order_does_not_matter(spec in arb_contacts(), seed in any::<u64>()) {
        let model = load(MODEL);
        let contacts = build(&spec);
        let expected = score(&model, &as_members(&contacts));
        let mut shuffled = contacts.clone();
        shuffle(&mut shuffled, seed);
        prop_assert_eq!(score(&model, &as_members(&shuffled)), expected);
    }

    /// The explanation's lines sum to `raw` (fit lines to `fit`, the others to
    /// `engagement`), and the score is `raw` rounded.
    #[test]
    fn explanation_sums_to_raw(spec in arb_contacts()) {
        let model = load(MODEL);
        let contacts = build(&spec);
        let members: Vec<Member<'_>> = contacts.iter().map(|(id, a, e, d)| Member { id, attributes: a, engagement: *e, disqualified: *d }).collect();
        let result = score(&model, &members);
        let sum = |kind| result.explain.iter().filter(|l| l.kind == kind).map(|l| l.points).sum::<f64>();
        let tolerance = 1e-9 * (1.0 + result.raw.abs());
        prop_assert!((sum(AccountLineKind::AccountFit) - result.fit).abs() <= tolerance);
        prop_assert!((sum(AccountLineKind::AccountEngagement) - result.engagement).abs() <= tolerance);
        let all: f64 = result.explain.iter().map(|l| l.points).sum();
        prop_assert!((all - result.raw).abs() <= tolerance, "lines {} raw {}", all, result.raw);
        prop_assert_eq!(result.raw, result.fit + result.engagement);
        prop_assert_eq!(result.score, result.raw.round() as i64);
        for line in &result.explain {
            prop_assert!(line.count > 0);
            for id in &line.contacts {
                prop_assert!(result.members.contains(id));
            }
        }
    }
}
