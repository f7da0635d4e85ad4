#!/usr/bin/env bash
# Memory measured whole: the unreduced search (symmetry as by default) of SCENARIO stopped at
# SIZE unique states, RUNS times; prints a Markdown row with the unique states, the medians of
# the process's peak resident memory (/usr/bin/time) and of that divided by the unique states,
# beside the store's own bytes per state from the report (state vectors, index, parents and
# edges), and of CPU seconds, then the date, the commit and the load average before the runs.
# Usage:
#   bash benches/memory.sh [RUNS] [SIZE] [SCENARIO]
# (default: 3 runs, 2,000,000 states, benches/scenarios/two-way-three-devices.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
size=${2:-2000000}
f=${3:-benches/scenarios/two-way-three-devices.toml}
cargo build --release --locked -q
bin=target/release/imessage-model
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The scenario with its state bound set to SIZE (its other bounds kept).
python3 - "$f" "$size" "$tmp/scenario.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
line = f"max-states = {sys.argv[2]}"
if re.search(r"(?m)^max-states\s*=.*$", text):
    text = re.sub(r"(?m)^max-states\s*=.*$", line, text)
elif re.search(r"(?m)^\[bounds\]\s*$", text):
    text = re.sub(r"(?m)^\[bounds\]\s*$", "[bounds]\n" + line, text)
else:
    text += "\n[bounds]\n" + line + "\n"
open(sys.argv[3], "w").write(text)
PY
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
peak=() per=() store=() secs=()
for _ in $(seq "$runs"); do
  out=$( { /usr/bin/time -f "TIME %U %S %M" "$bin" check --quiet --format json --reduction none "$tmp/scenario.toml"; } 2>&1 ) || true
  kib=$(grep '^TIME' <<<"$out" | awk '{print $4}')
  secs+=("$(grep '^TIME' <<<"$out" | awk '{printf "%.2f", $2 + $3}')")
  read -r unique bps < <(grep -v '^TIME' <<<"$out" | python3 -c 'import json,sys; s=json.load(sys.stdin)["scenarios"][0]; print(s["unique_states"], round(s["bytes_per_state"]))')
  peak+=("$((kib / 1024))")
  per+=("$((kib * 1024 / unique))")
  store+=("$bps")
done
echo "| scenario | unique states | peak MB | peak bytes per unique state | store's bytes per state | CPU seconds |"
echo "|---|---|---|---|---|---|"
printf '| %s | %s | %s | %s | %s | %s |\n' "$(basename "$f" .toml)" "$(python3 -c "print(f'{$unique:,}')")" \
  "$(med "${peak[@]}")" "$(med "${per[@]}")" "$(med "${store[@]}")" "$(med "${secs[@]}")"
echo
echo "Measured on $(date -u +%Y-%m-%d) from commit $(git rev-parse --short HEAD), medians of $runs runs, unreduced, stopped at $(python3 -c "print(f'{$size:,}')") unique states (load average before: $load)."
