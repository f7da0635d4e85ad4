#!/usr/bin/env bash
# What the claim language costs: one scenario checked with the catalogue's built-in conditions
# and with claims/catalogue.toml (the same claims written in the language) in their place,
# RUNS times each, alternating, in whole processes; prints the medians of CPU seconds (user and
# system, from /usr/bin/time), the unique states of each and the ratio library / built-in,
# then the date, the commit and the load average before the runs. Usage:
#   bash benches/library.sh [RUNS] [SCENARIO]
# (default: 5 runs of benches/scenarios/ladder-6-three-devices.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
f=${2:-benches/scenarios/ladder-6-three-devices.toml}
cargo build --release --locked -q
bin=target/release/imessage-model
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
builtin=() library=()
run() {
  local out
  out=$( { /usr/bin/time -f "TIME %U %S" "$bin" check --quiet --format json "$@" "$f"; } 2>&1 ) || true
  grep -q '^TIME' <<<"$out" || { echo "library.sh: the check of $f failed:" >&2; echo "$out" >&2; exit 1; }
  unique=$(grep -v '^TIME' <<<"$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["scenarios"][0]["unique_states"])')
  secs=$(grep '^TIME' <<<"$out" | awk '{printf "%.2f", $2 + $3}')
}
for _ in $(seq "$runs"); do
  run; builtin+=("$secs"); ub=$unique
  run --claims claims/catalogue.toml; library+=("$secs"); ul=$unique
done
b=$(med "${builtin[@]}"); l=$(med "${library[@]}")
echo "| conditions | unique states | CPU seconds (median of $runs) |"
echo "|---|---|---|"
echo "| built-in | $(python3 -c "print(f'{$ub:,}')") | $b |"
echo "| claims/catalogue.toml | $(python3 -c "print(f'{$ul:,}')") | $l |"
echo
echo "$(basename "$f" .toml): the library takes $(python3 -c "print(f'{$l / $b:.2f}')")× the built-in conditions' CPU time."
echo "Measured $(date -u +%Y-%m-%d) from commit $(git rev-parse --short HEAD) (load average before: $load)."
