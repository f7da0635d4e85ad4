#!/usr/bin/env bash
# The scale ladder: every scenario of benches/scenarios/ checked on its own by the single-thread
# search, with and without partial-order reduction, RUNS times each; prints one Markdown row per rung and
# reduction with medians of seconds, peak memory and unique states per second, and the store's
# bytes per state. Unreduced runs that exceed NONE_LIMIT seconds, and reduced runs that exceed
# LIMIT seconds, are stopped (their row says so). Usage:
#   bash benches/ladder.sh [RUNS] [LIMIT] [NONE_LIMIT]
# REDUCTIONS="por" (say) runs only the reductions named.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
limit=${2:-150}
none_limit=${3:-60}
cargo build --release --locked -q
bin=target/release/imessage-model
echo "| rung | reduction | unique states | states | complete | seconds (median of $runs) | peak memory MB | bytes per stored state | unique states/s |"
echo "|---|---|---|---|---|---|---|---|---|"
for f in benches/scenarios/*.toml; do
  for r in ${REDUCTIONS:-none por}; do
    secs=(); mems=(); row=""
    lim=$limit; [ "$r" = none ] && lim=$none_limit
    for _ in $(seq "$runs"); do
      out=$( { /usr/bin/time -f "TIME %e %M" timeout "$lim" "$bin" check --quiet --format json --reduction "$r" "$f"; } 2>&1 ) || true
      if ! grep -q '^TIME' <<<"$out" || ! grep -q '"unique_states"' <<<"$out"; then row="skipped"; break; fi
      secs+=("$(grep '^TIME' <<<"$out" | awk '{print $2}')")
      mems+=("$(grep '^TIME' <<<"$out" | awk '{printf "%.0f", $3/1024}')")
      row=$(grep -v '^TIME' <<<"$out" | python3 -c 'import json,sys; s=json.load(sys.stdin)["scenarios"][0]; print(s["unique_states"], s["states"], s["complete"], round(s["bytes_per_state"]))')
    done
    name=$(basename "$f" .toml)
    if [ "$row" = "skipped" ]; then
      echo "| $name | $r | — | — | — | over ${lim} s, stopped | — | — | — |"
      continue
    fi
    read -r unique states complete bps <<<"$row"
    med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    s=$(med "${secs[@]}"); m=$(med "${mems[@]}")
    rate=$(python3 -c "print(f'{int($unique / max($s, 0.005)):,}')")
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$r" "$(printf "%'d" "$unique")" "$(printf "%'d" "$states")" "$complete" "$s" "$m" "$bps" "$rate"
  done
done
