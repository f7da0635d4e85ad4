#!/usr/bin/env bash
# The scale ladder: every scenario of benches/scenarios/ checked on its own by the single-thread
# search, with and without partial-order reduction, RUNS times each; prints the README's table
# (one row per rung: unique states of both searches, and for each the medians of whole-process
# CPU seconds, user and system, and peak memory from /usr/bin/time, the store's bytes per state
# and unique states per CPU-second), then the date, the commit and the load average before the
# runs. CPU seconds, not wall seconds: on a shared machine another job stretches wall time
# several times, CPU time far less. Unreduced runs that exceed NONE_LIMIT seconds,
# and reduced runs that exceed LIMIT seconds, are stopped (their cells say so). Usage:
#   bash benches/ladder.sh [RUNS] [LIMIT] [NONE_LIMIT]
# (SCENARIOS="FILE ..." measures only those files.)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
limit=${2:-150}
none_limit=${3:-60}
cargo build --release --locked -q
bin=target/release/imessage-model
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
commas() { python3 -c "print(f'{int($1):,}')"; }

# Sets unique, bps, secs, mb for scenario $1 under reduction $2, or unique=over.
measure() {
  local f=$1 r=$2 lim=$limit out s=() m=()
  [ "$r" = none ] && lim=$none_limit
  unique=over
  for _ in $(seq "$runs"); do
    out=$( { /usr/bin/time -f "TIME %U %S %M" timeout "$lim" "$bin" check --quiet --format json --reduction "$r" "$f"; } 2>&1 ) || true
    if ! grep -q '^TIME' <<<"$out" || ! grep -q '"unique_states"' <<<"$out"; then unique=over; return; fi
    s+=("$(grep '^TIME' <<<"$out" | awk '{printf "%.2f", $2 + $3}')")
    m+=("$(grep '^TIME' <<<"$out" | awk '{printf "%.0f", $4/1024}')")
    read -r unique bps < <(grep -v '^TIME' <<<"$out" | python3 -c 'import json,sys; s=json.load(sys.stdin)["scenarios"][0]; print(s["unique_states"], round(s["bytes_per_state"]))')
  done
  secs=$(med "${s[@]}"); mb=$(med "${m[@]}")
}

# Unique states per CPU-second, or a dash when the time is below /usr/bin/time's resolution.
rate() { python3 -c "print('—' if float('$2') < 0.005 else f'{int($1 / float(\"$2\")):,}')"; }

load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "| rung | actions | unique states, none | unique states, por | CPU seconds, por | peak MB, por | bytes per stored state, por | unique states per CPU-second, por | CPU seconds, none | peak MB, none | unique states per CPU-second, none |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
# SCENARIOS="FILE ..." measures only those files.
for f in ${SCENARIOS:-benches/scenarios/*.toml}; do
  name=$(basename "$f" .toml)
  actions=$(grep -c '^\[\[action\]\]' "$f" || true)
  grep -q '^\[\[legal-request\]\]' "$f" && actions="$actions + order"
  measure "$f" por
  if [ "$unique" = over ]; then
    por_cells="over ${limit} s | — | — | — | —"
    por_unique="—"
  else
    por_unique=$(commas "$unique")
    por_cells="$secs | $mb | $bps | $(rate "$unique" "$secs")"
  fi
  measure "$f" none
  if [ "$unique" = over ]; then
    none_unique="over ${none_limit} s"; none_cells="— | — | —"
  else
    none_unique=$(commas "$unique"); none_cells="$secs | $mb | $(rate "$unique" "$secs")"
  fi
  echo "| \`$name\` | $actions | $none_unique | $por_unique | $por_cells | $none_cells |"
done
echo
echo "Measured on $(date -u +%Y-%m-%d) from commit $(git rev-parse --short HEAD), medians of $runs runs (load average before: $load)."
