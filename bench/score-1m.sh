#!/usr/bin/env bash
# Whole-command benchmark of `leadscore score`: 1M contacts / ~50M events (or N given
# as the first argument), generated once into $DATA (default /tmp/leadscore-bench-N).
# Prints wall time, CPU time and peak memory of the scoring run, and the same figures
# for `wc -l` over the events file as a baseline measured in the same run (the floor
# for reading the file at all), so figures can be compared across noisy machines.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
DATA=${DATA:-/tmp/leadscore-bench-$N}
cargo build --release -q -p leadscore-cli
BIN=target/release/leadscore
if [ ! -s "$DATA/events.jsonl" ]; then
  echo "generating $N contacts into $DATA ..."
  "$BIN" generate --contacts "$N" --seed 1 --out "$DATA"
fi
events=$(wc -l < "$DATA/events.jsonl")
measure() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "$label wall %e s  user %U s  sys %S s  peak %M KB" "$@" > /dev/null
}
echo "data: $N contacts, $events events, $(du -h "$DATA/events.jsonl" | cut -f1)"
measure "baseline wc -l:" wc -l "$DATA/events.jsonl"
LEADSCORE_TIMINGS=1 measure "leadscore score:" "$BIN" score --model examples/b2b.toml \
  --contacts "$DATA/contacts.csv" --events "$DATA/events.jsonl" --as-of 2026-11-01T00:00:00Z
