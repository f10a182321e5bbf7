//! `leadscore model check` and `leadscore model schema`.

use crate::support::{leadscore, stderr, stdout};

#[test]
fn example_model_passes_the_check() {
    let out = leadscore(&["model", "check", "examples/b2b.toml"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(": ok: "), "{}", stdout(&out));
}

#[test]
fn ten_mistakes_give_ten_located_messages_and_exit_1() {
    let file = "crates/model/tests/fixtures/ten-mistakes.toml";
    let out = leadscore(&["model", "check", file]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let errors: Vec<&str> = text.lines().filter(|l| !l.contains("warning:")).collect();
    assert_eq!(errors.len(), 10, "{text}");
    for line in &errors {
        let mut parts = line.splitn(4, ':');
        assert_eq!(parts.next(), Some(file), "{line}");
        let line_no: usize = parts
            .next()
            .and_then(|n| n.parse().ok())
            .expect("line number");
        let column: usize = parts.next().and_then(|n| n.parse().ok()).expect("column");
        assert!(line_no > 0 && column > 0, "{line}");
    }
    assert!(text.contains("unknown list `free_mails`"), "{text}");
}

#[test]
fn missing_model_file_is_invalid_input() {
    let out = leadscore(&["model", "check", "no/such/model.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no/such/model.toml"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = leadscore(&["score", "--model"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_is_json_describing_the_top_level_keys() {
    let out = leadscore(&["model", "schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON schema");
    for key in [
        "version",
        "fit",
        "engagement",
        "groups",
        "stage",
        "trigger",
        "route",
        "teams",
    ] {
        assert!(
            schema["properties"][key].is_object(),
            "schema lacks `{key}`"
        );
    }
}
