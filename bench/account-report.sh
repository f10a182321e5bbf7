#!/usr/bin/env bash
# The account report on generated data: AUC of the account score against the best
# member's contact score, precision at the account MQL stage (its second stage)
# against "some member at the contact MQL stage", and the cost of the account section
# (the report with examples/b2b.toml against the same model without `[account]`, same
# run, same files).
# Usage: bench/account-report.sh [CONTACTS] [SEEDS...]   (default: 20000 1 2 3)
# Needs a release build: cargo build --release -p leadscore-cli
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${CARGO_TARGET_DIR:-target}/release/leadscore
contacts=${1:-20000}
shift || true
seeds=("${@:-1 2 3}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The example model without its [account] table (the table is the file's last part).
sed '/^# ACCOUNTS: B2B deals/,$d' examples/b2b.toml | sed '$d' > "$work/noacct.toml"
for seed in ${seeds[@]}; do
  "$bin" generate --contacts "$contacts" --seed "$seed" --out "$work/data" > /dev/null
  args=(--contacts "$work/data/contacts.csv" --events "$work/data/events.jsonl"
        --outcomes "$work/data/outcomes.csv" --format json)
  start=$(date +%s.%N)
  "$bin" report --model "$work/noacct.toml" "${args[@]}" > "$work/contacts.json"
  middle=$(date +%s.%N)
  "$bin" report --model examples/b2b.toml "${args[@]}" > "$work/accounts.json"
  end=$(date +%s.%N)
  python3 - "$work/accounts.json" "$contacts" "$seed" "$start" "$middle" "$end" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = r["accounts"]
s, m, e = map(float, sys.argv[4:7])
acc, best = a["account_score"], a["best_member_score"]
print(f"contacts={sys.argv[2]} seed={sys.argv[3]}: {a['accounts']} accounts of {a['members']} contacts, "
      f"{a['converters']} converted ({100*a['rate']:.1f} %)")
print(f"  AUC account score {acc['auc']:.3f}, best member score {best['auc']:.3f} "
      f"(difference {acc['auc']-best['auc']:+.3f}); contact report AUC over contacts: see backtest")
print(f"  precision: account MQL stage {100*acc['precision']:.1f} % ({acc['qualified']} accounts, recall "
      f"{100*acc['recall']:.1f} %); some member MQL {100*best['precision']:.1f} % ({best['qualified']}, recall "
      f"{100*best['recall']:.1f} %)")
print(f"  top 10 %: {100*acc['top10_capture']:.1f} % vs {100*best['top10_capture']:.1f} %; "
      f"top 20 %: {100*acc['top20_capture']:.1f} % vs {100*best['top20_capture']:.1f} %")
stage = {g["name"]: g for g in a["by_stage"]}
print("  by account stage: " + ", ".join(f"{n} {g['converters']}/{g['contacts']} ({100*(g['rate'] or 0):.1f} %)" for n, g in stage.items()))
print(f"  wall: without [account] {m-s:.2f} s, with {e-m:.2f} s ({(e-m)/(m-s):.2f}x)")
PY
done
