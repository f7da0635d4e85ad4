#!/usr/bin/env bash
# The scenarios of models/: each checked on its own (one process, the single-thread search, the
# default reduction), RUNS times; prints the README's table (one Markdown row per scenario: unique states, states, depth, the
# median of its checking seconds from the report, and unique states per second) and the total.
# Usage: bash benches/models.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --locked -q
bin=target/release/imessage-model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq "$runs"); do
  mkdir -p "$tmp/$i"
  for f in models/*.toml; do
    "$bin" check --quiet --format json "$f" >"$tmp/$i/$(basename "$f" .toml).json" || true
  done
done
python3 - "$runs" "$tmp" <<'PY'
import json, statistics, sys, os
runs, tmp = int(sys.argv[1]), sys.argv[2]
def run(i):
    d = os.path.join(tmp, str(i))
    return {"scenarios": [json.load(open(os.path.join(d, f)))["scenarios"][0] for f in sorted(os.listdir(d))]}
reports = [run(i) for i in range(1, runs + 1)]
print(f"| scenario | unique states | states | depth | seconds (median of {runs}) | unique states/s |")
print("|---|---|---|---|---|---|")
total_u, total_s = 0, 0.0
for s in reports[0]["scenarios"]:
    secs = [next(x for x in r["scenarios"] if x["file"] == s["file"])["seconds"] for r in reports]
    med = statistics.median(secs)
    u = s["unique_states"]
    total_u += u
    total_s += med
    print(f"| {os.path.basename(s['file'])} | {u:,} | {s['states']:,} | {s['max_depth']} | {med:.4f} | {int(u / med):,} |")
print()
print(f"In all, {total_u:,} unique states in {total_s:.2f} s of checking (sum of the medians).")
import datetime, subprocess
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
print(f"Measured on {datetime.date.today().isoformat()} from commit {commit}.")
PY
