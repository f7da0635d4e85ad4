#!/usr/bin/env bash
# Symmetry reduction off, on (every class) and auto (the default: classes of five or more) on
# classes of two to five interchangeable devices: ladder-5 (a class of two),
# benches/symmetry/three-interchangeable-lookups.toml (three), four-receiving-devices.toml (two
# classes of four) and five-receiving-devices.toml (two of five), each checked RUNS times per
# setting by the single-thread search with partial-order reduction; prints a Markdown row per
# scenario and setting with the unique states, the median of whole-process CPU seconds, user
# and system, and of peak memory (/usr/bin/time), with the commit, the date and the load
# average before the runs. Usage:
#   bash benches/symmetry.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --locked -q
bin=target/release/imessage-model
echo "Measured $(date -u +%Y-%m-%d) from commit $(git rev-parse --short HEAD), medians of $runs runs (load average before: $(cut -d' ' -f1-3 /proc/loadavg))."
echo
echo "| scenario | symmetry | unique states | CPU seconds | peak MB |"
echo "|---|---|---|---|---|"
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for f in benches/scenarios/ladder-5-interchangeable-lookups.toml \
  benches/symmetry/three-interchangeable-lookups.toml \
  benches/symmetry/four-receiving-devices.toml benches/symmetry/five-receiving-devices.toml; do
  for s in off on auto; do
    secs=()
    mb=()
    for _ in $(seq "$runs"); do
      out=$( { /usr/bin/time -f "TIME %U %S %M" "$bin" check --quiet --format json --symmetry "$s" "$f"; } 2>&1 ) || true
      secs+=("$(grep '^TIME' <<<"$out" | awk '{printf "%.3f", $2 + $3}')")
      mb+=("$(grep '^TIME' <<<"$out" | awk '{printf "%.0f", $4/1024}')")
      unique=$(grep -v '^TIME' <<<"$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["scenarios"][0]["unique_states"])')
    done
    printf '| %s | %s | %s | %s | %s |\n' "$(basename "$f" .toml)" "$s" "$(python3 -c "print(f'{$unique:,}')")" "$(med "${secs[@]}")" "$(med "${mb[@]}")"
  done
done
