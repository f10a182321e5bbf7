#!/usr/bin/env bash
# Whole-command benchmark of `leadscore backtest` and `leadscore tune`: 1M contacts /
# ~50M events (or N given as the first argument), generated once into $DATA (default
# /tmp/leadscore-bench-N, shared with score-1m.sh). Prints wall time, CPU time and peak
# memory of each run, and `wc -l` over the events file as the floor for reading it.
# `tune` is run twice: with its suggestions (a second, parallel read of the events
# file) and with `--no-suggestions`.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
DATA=${DATA:-/tmp/leadscore-bench-$N}
cargo build --release -q -p leadscore-cli
BIN=${CARGO_TARGET_DIR:-target}/release/leadscore
if [ ! -s "$DATA/events.jsonl" ]; then
  echo "generating $N contacts into $DATA ..."
  "$BIN" generate --contacts "$N" --seed 1 --out "$DATA"
fi
events=$(wc -l < "$DATA/events.jsonl")
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label wall %e s  user %U s  sys %S s  peak %M KB" "$@" > "$DATA/$label.out"
}
echo "data: $N contacts, $events events, $(du -h "$DATA/events.jsonl" | cut -f1)"
measure "wc" wc -l "$DATA/events.jsonl"
FILES=(--contacts "$DATA/contacts.csv" --events "$DATA/events.jsonl" --outcomes "$DATA/outcomes.csv")
measure "backtest" "$BIN" backtest --model examples/b2b.toml "${FILES[@]}" --threshold 60
measure "tune-no-suggestions" "$BIN" tune --model examples/b2b.toml "${FILES[@]}" \
  -o "$DATA/tuned.toml" --no-suggestions
measure "tune" "$BIN" tune --model examples/b2b.toml "${FILES[@]}" -o "$DATA/tuned.toml"
grep -A4 "held-out ROC AUC" "$DATA/tune.out"
