//! Running the binary and making scratch directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The repository root (for `examples/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh, empty scratch directory, unique per test and process.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "leadscore-cli-{}-{}-{}",
        name,
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Run `leadscore ARGS` and return its output.
pub fn leadscore(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_leadscore"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run leadscore")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Parse JSONL output into values.
pub fn jsonl(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// Generate a data set of `contacts` contacts with `seed` into a new scratch dir.
pub fn generated(name: &str, contacts: u32, seed: u32) -> PathBuf {
    let dir = scratch(name);
    let out = leadscore(&[
        "generate",
        "--contacts",
        &contacts.to_string(),
        "--seed",
        &seed.to_string(),
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
    assert!(out.status.success(), "generate failed: {}", stderr(&out));
    dir
}

/// `path` as `&str`.
pub fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// Write `dir/NAME`: `dir/events.jsonl` plus, at the very instant of each outcome in
/// `dir/outcomes.csv`, a `Demo Requested` by that contact. An analysis that let events
/// at or after the outcome explain it would change; a leakage-free one must not.
pub fn write_leaky_events(dir: &Path, name: &str) {
    let outcomes = std::fs::read_to_string(dir.join("outcomes.csv")).expect("outcomes");
    let mut events = std::fs::read_to_string(dir.join("events.jsonl")).expect("events");
    for (i, row) in outcomes.lines().skip(1).enumerate() {
        let cells: Vec<&str> = row.split(',').collect();
        let (id, at) = (cells[0], cells[2]);
        events.push_str(&format!(
            "{{\"type\":\"track\",\"event\":\"Demo Requested\",\"userId\":\"{id}\",\"messageId\":\"leak-{i}\",\"timestamp\":\"{at}\"}}\n"
        ));
    }
    std::fs::write(dir.join(name), events).expect("write");
}
