#!/usr/bin/env bash
# The service's load benchmark (issue "The service"): figures, never assertions.
#
#   bench/serve-load.sh [CONTACTS=100000] [SECONDS=10] [CLIENTS=16]
#
# SECTIONS=13 runs only sections 1 and 3 (default: all); LEADSCORE_BIN and LOAD_BIN
# measure other builds (say, a baseline) with the same script.
#
# 1. Durable ingestion on SQLite: /v1/batch requests of 100 events from CLIENTS
#    concurrent clients for SECONDS (each 200 only after the group commit; random
#    UUID messageIds, as real clients send), then
#    single-event /v1/track requests (p50/p99 latency); then (1b) the batches from
#    MANY_CLIENTS=128 clients on a fresh file.
# 2. The same batch ingestion on the PostgreSQL at 127.0.0.1:5432 (a database of its
#    own, dropped and made again).
# 3. With CONTACTS contacts stored (imported as CSV, which also scores them all):
#    p50/p99 of score reads (GET /api/v1/contacts/{id}/score, random ids), then an
#    activation of a new model version, timed until every contact is rescored.
#
# The load generator (crates/server/examples/load.rs) runs on the same two cores as
# the server, so the figures are a floor; compare runs made the same day.
set -euo pipefail
cd "$(dirname "$0")/.."
CONTACTS=${1:-100000}
SECONDS_=${2:-10}
CLIENTS=${3:-16}
PORT=${LEADSCORE_BENCH_PORT:-18089}
BASE="http://127.0.0.1:$PORT"

# LEADSCORE_BIN and LOAD_BIN run other builds (a baseline) instead of building these.
T=${CARGO_TARGET_DIR:-target}
if [ -z "${LEADSCORE_BIN:-}" ]; then
    cargo build --release -q -p leadscore-cli
    cargo build --release -q -p leadscore-server --example load
fi
B=${LEADSCORE_BIN:-$T/release/leadscore}
LOAD=${LOAD_BIN:-$T/release/examples/load}
DIR=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$DIR"' EXIT

start() { # DB-URL
    "$B" serve --db "$1" --model examples/b2b.toml --listen "127.0.0.1:$PORT" --tick 0 \
        --no-deliveries 2>>"$DIR/serve.log" &
    PID=$!
    for _ in $(seq 1 100); do
        curl -sf "$BASE/healthz" >/dev/null && return 0
        sleep 0.1
    done
    echo "serve did not start; see its log:" >&2
    tail -20 "$DIR/serve.log" >&2
    exit 1
}
stop() { kill -TERM "$PID"; wait "$PID" || true; }
key() { "$B" keys create --db "$1" --role "$2" | tail -n 1; }
ms() { date +%s%3N; }

SECTIONS=${SECTIONS:-123}
if [[ $SECTIONS == *1* ]]; then
echo "== 1. SQLite ingestion ($CLIENTS clients, ${SECONDS_} s each)"
DB="sqlite://$DIR/ingest.db"
WRITE=$(key "$DB" write)
start "$DB"
"$LOAD" "$BASE" "$WRITE" "$CLIENTS" "$SECONDS_" batch
"$LOAD" "$BASE" "$WRITE" "$CLIENTS" "$SECONDS_" single
curl -s "$BASE/metrics" | grep -E "^leadscore_(history_reads|group_commits|rescored|events_ingested)_total" || true
stop
# The same batches from MANY_CLIENTS (128) on a fresh file: larger group commits,
# whose messages share more pages of the log's contact index.
MANY=${MANY_CLIENTS:-128}
echo "== 1b. SQLite ingestion ($MANY clients, ${SECONDS_} s, a fresh file)"
DB="sqlite://$DIR/ingest-many.db"
WRITE=$(key "$DB" write)
start "$DB"
"$LOAD" "$BASE" "$WRITE" "$MANY" "$SECONDS_" batch
curl -s "$BASE/metrics" | grep -E "^leadscore_(group_commits|rescored|events_ingested)_total" || true
stop
fi

if [[ $SECTIONS == *2* ]]; then
echo "== 2. PostgreSQL ingestion"
psql -q -h 127.0.0.1 -U postgres -d test -c "DROP DATABASE IF EXISTS leadscore_bench" \
    -c "CREATE DATABASE leadscore_bench" >/dev/null
DB="postgres://postgres@127.0.0.1:5432/leadscore_bench"
WRITE=$(key "$DB" write)
start "$DB"
"$LOAD" "$BASE" "$WRITE" "$CLIENTS" "$SECONDS_" batch
stop
fi

if [[ $SECTIONS == *3* ]]; then
echo "== 3. $CONTACTS contacts stored (SQLite)"
DB="sqlite://$DIR/contacts.db"
ADMIN=$(key "$DB" admin)
READ=$(key "$DB" read)
start "$DB"
awk -v n="$CONTACTS" 'BEGIN {
    print "id,job_title,industry,company_size,country";
    split("CTO,Head of IT,Marketing Manager,Intern,Developer", t, ",");
    split("Software,Manufacturing,Education,Retail", ind, ",");
    split("DE,AT,US,FR", c, ",");
    for (i = 0; i < n; i++)
        printf "u-%d,%s,%s,%d,%s\n", i, t[i % 5 + 1], ind[i % 4 + 1], (i * 37) % 3000 + 5, c[i % 4 + 1];
}' >"$DIR/contacts.csv"
T0=$(ms)
curl -sf -H "Authorization: Bearer $ADMIN" -H 'Content-Type: text/csv' \
    --data-binary "@$DIR/contacts.csv" "$BASE/api/v1/import/contacts" >/dev/null
T1=$(ms)
# A read of a stored score waits until the background scoring of the import is done.
curl -sf -H "Authorization: Bearer $READ" "$BASE/api/v1/contacts/u-0/score" >/dev/null
T2=$(ms)
echo "import of $CONTACTS contacts: $((T1 - T0)) ms stored, $((T2 - T0)) ms stored and scored"
"$LOAD" "$BASE" "$READ" "$CLIENTS" "$SECONDS_" read "$CONTACTS"
"$LOAD" "$BASE" "$READ" 1 "$SECONDS_" read "$CONTACTS"
# A new model version (the example plus a comment, so the text differs), activated.
{ cat examples/b2b.toml; echo "# bench $(date +%s)"; } >"$DIR/model.toml"
VERSION=$(curl -sf -H "Authorization: Bearer $ADMIN" --data-binary "@$DIR/model.toml" \
    "$BASE/api/v1/models" | sed -E 's/.*"version":([0-9]+).*/\1/')
T0=$(ms)
curl -sf -X POST -H "Authorization: Bearer $ADMIN" "$BASE/api/v1/models/$VERSION/activate" >/dev/null
until curl -sf -H "Authorization: Bearer $READ" "$BASE/api/v1/models/rescoring" | grep -q '"finished":true'; do
    sleep 0.2
done
T1=$(ms)
echo "activation rescoring of $CONTACTS contacts: $((T1 - T0)) ms ($((CONTACTS * 1000 / (T1 - T0 + 1))) contacts/s)"
stop
fi
