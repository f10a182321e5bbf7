//! Score result writers: exact output strings.

use leadscore_engine::{ExplainLine, LineKind, Prediction, RouteResult, ScoreResult};
use leadscore_formats::{CsvWriter, JsonlWriter, ResultJson, parse_timestamp};

const AS_OF: &str = "2026-06-01T00:00:00Z";

fn as_of() -> i64 {
    parse_timestamp(AS_OF).expect("as_of")
}

fn line(rule: &str, label: &str, kind: LineKind, count: u32, points: f64) -> ExplainLine {
    ExplainLine {
        rule: rule.to_owned(),
        label: Some(label.to_owned()),
        kind,
        count,
        points,
        group: None,
        not_counted: 0,
        capped: 0.0,
        author: None,
        clamped_to: None,
        reason: None,
    }
}

/// The example of docs/interfaces.md, with float noise the writer must remove.
fn example() -> ScoreResult {
    let mut pricing = line(
        "pricing-visit",
        "Visited the pricing page",
        LineKind::Engagement,
        3,
        38.4 + 1e-12,
    );
    pricing.group = Some("product-a".to_owned());
    ScoreResult {
        score: 73,
        raw: 73.4 + 1e-11,
        clamped: 73.4,
        fit: 35.0,
        engagement: 38.4 + 1e-12,
        manual: 0.0,
        grade: Some("B".to_owned()),
        label: Some("warm".to_owned()),
        groups: vec![
            ("product-a".to_owned(), 30.0),
            ("product-b".to_owned(), 0.125),
        ],
        stage: Some("lead".to_owned()),
        disqualified: false,
        disqualified_by: vec![],
        route: None,
        triggers_active: vec!["hot-lead".to_owned()],
        prediction: None,
        account: None,
        explain: vec![
            line(
                "decision-maker",
                "Decision-maker title",
                LineKind::Fit,
                1,
                20.0,
            ),
            line("company-size", "Mid-size company", LineKind::Fit, 1, 15.0),
            pricing,
        ],
    }
}

fn jsonl(results: &[(&str, ScoreResult)], explain: bool) -> String {
    let mut writer = JsonlWriter::new(Vec::new(), explain);
    for (id, result) in results {
        writer.write(id, as_of(), result).expect("write");
    }
    String::from_utf8(writer.finish().expect("flush")).expect("utf-8")
}

#[test]
fn jsonl_keys_are_in_the_documented_order() {
    assert_eq!(
        jsonl(&[("c-17", example())], false),
        concat!(
            r#"{"contact_id":"c-17","as_of":"2026-06-01T00:00:00Z","score":73,"raw":73.4,"#,
            r#""fit":35,"engagement":38.4,"manual":0,"grade":"B","label":"warm","#,
            r#""groups":{"product-a":30,"product-b":0.125},"stage":"lead","disqualified":false,"#,
            r#""owner":null,"route":null}"#,
            "\n"
        )
    );
}

#[test]
fn jsonl_with_explain_and_route() {
    let mut result = example();
    result.route = Some(RouteResult {
        route: "standard".to_owned(),
        team: "sales-a".to_owned(),
    });
    result.grade = None;
    result.label = None;
    let mut manual = line("manual", "Met at fair", LineKind::Manual, 1, -1.5);
    manual.label = Some("Met at \"fair\"".to_owned());
    manual.author = Some("anna@example.com".to_owned());
    result.explain.push(manual);
    let mut clamp = line("clamp", "", LineKind::Clamp, 1, 0.0);
    clamp.label = None;
    clamp.clamped_to = Some(71.9);
    result.explain.push(clamp);
    assert_eq!(
        jsonl(&[("c-1", result)], true),
        concat!(
            r#"{"contact_id":"c-1","as_of":"2026-06-01T00:00:00Z","score":73,"raw":73.4,"#,
            r#""fit":35,"engagement":38.4,"manual":0,"grade":null,"label":null,"#,
            r#""groups":{"product-a":30,"product-b":0.125},"stage":"lead","disqualified":false,"#,
            r#""owner":null,"route":{"route":"standard","team":"sales-a"},"explain":["#,
            r#"{"rule":"decision-maker","label":"Decision-maker title","kind":"fit","count":1,"points":20},"#,
            r#"{"rule":"company-size","label":"Mid-size company","kind":"fit","count":1,"points":15},"#,
            r#"{"rule":"pricing-visit","label":"Visited the pricing page","kind":"engagement","count":3,"points":38.4,"group":"product-a"},"#,
            r#"{"rule":"manual","label":"Met at \"fair\"","kind":"manual","count":1,"points":-1.5,"author":"anna@example.com"},"#,
            r#"{"rule":"clamp","label":null,"kind":"clamp","count":1,"points":0,"clamped_to":71.9}]}"#,
            "\n"
        )
    );
}

#[test]
fn jsonl_writes_one_line_per_result() {
    let out = jsonl(&[("a", example()), ("b", example())], false);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    for (line, id) in lines.iter().zip(["a", "b"]) {
        let value: serde_json::Value = serde_json::from_str(line).expect("valid JSON");
        assert_eq!(value["contact_id"], id);
        assert!(value.get("explain").is_none());
    }
}

#[test]
fn result_json_serves_the_api_with_owner() {
    let result = example();
    let json = ResultJson::new("c-17", as_of(), &result)
        .with_explain(true)
        .with_owner(Some("anna@example.com"));
    let value = serde_json::to_value(&json).expect("serialize");
    assert_eq!(value["owner"], "anna@example.com");
    assert_eq!(value["explain"].as_array().map(Vec::len), Some(3));
}

#[test]
fn csv_has_group_columns_and_explain() {
    let mut result = example();
    result.route = Some(RouteResult {
        route: "standard".to_owned(),
        team: "sales-a".to_owned(),
    });
    result.disqualified = true;
    result.groups.pop();
    let mut writer = CsvWriter::new(Vec::new(), &["product-a", "product-b"], true).expect("header");
    writer.write("c-17", as_of(), &result).expect("write");
    writer.write("c,18", as_of(), &example()).expect("write");
    let out = String::from_utf8(writer.finish().expect("flush")).expect("utf-8");
    assert_eq!(
        out,
        "contact_id,as_of,score,raw,fit,engagement,manual,grade,label,stage,disqualified,owner,route,team,group:product-a,group:product-b,explain\n\
         c-17,2026-06-01T00:00:00Z,73,73.4,35,38.4,0,B,warm,lead,true,,standard,sales-a,30,,decision-maker=20;company-size=15;pricing-visit=38.4\n\
         \"c,18\",2026-06-01T00:00:00Z,73,73.4,35,38.4,0,B,warm,lead,false,,,,30,0.125,decision-maker=20;company-size=15;pricing-visit=38.4\n"
    );
}

#[test]
fn csv_without_explain_or_groups() {
    let writer = CsvWriter::new(Vec::new(), &[] as &[&str], false).expect("header");
    let out = String::from_utf8(writer.finish().expect("flush")).expect("utf-8");
    assert_eq!(
        out,
        "contact_id,as_of,score,raw,fit,engagement,manual,grade,label,stage,disqualified,owner,route,team\n"
    );
}

#[test]
fn a_prediction_comes_after_route_rounded_and_as_a_csv_column() {
    let mut result = example();
    result.prediction = Some(Prediction {
        probability: 0.312_345_678_9,
        tuned_at: "2026-11-30".to_owned(),
        auc: 0.83,
    });
    assert_eq!(
        jsonl(&[("c-17", result.clone())], false),
        concat!(
            r#"{"contact_id":"c-17","as_of":"2026-06-01T00:00:00Z","score":73,"raw":73.4,"#,
            r#""fit":35,"engagement":38.4,"manual":0,"grade":"B","label":"warm","#,
            r#""groups":{"product-a":30,"product-b":0.125},"stage":"lead","disqualified":false,"#,
            r#""owner":null,"route":null,"#,
            r#""prediction":{"probability":0.312346,"tuned_at":"2026-11-30","auc":0.83}}"#,
            "\n"
        )
    );
    let mut writer =
        CsvWriter::with_probability(Vec::new(), &["product-a"], false, true).expect("header");
    writer.write("c-17", as_of(), &result).expect("write");
    writer.write("c-18", as_of(), &example()).expect("write");
    let out = String::from_utf8(writer.finish().expect("flush")).expect("utf-8");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].ends_with(",team,group:product-a,probability"),
        "{out}"
    );
    assert!(lines[1].ends_with(",30,0.312346"), "{out}");
    // A result without a prediction leaves the cell empty.
    assert!(lines[2].ends_with(",30,"), "{out}");
}
