#!/usr/bin/env bash
# The results matrix timed: `imessage-model matrix` (every cell, one per CPU) RUNS times, then
# once with delivery receipts on in every cell; prints the medians of whole-process seconds and
# peak memory (/usr/bin/time), the unique states of every cell, and the commit and date. Usage:
#   bash benches/matrix.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
cargo build --release --locked -q
bin=target/release/imessage-model
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
secs=(); mems=()
for _ in $(seq "$runs"); do
  out=$( { /usr/bin/time -f "TIME %e %M" "$bin" matrix --quiet --format json >/tmp/matrix-$$.json; } 2>&1 ) || true
  secs+=("$(grep '^TIME' <<<"$out" | awk '{print $2}')")
  mems+=("$(grep '^TIME' <<<"$out" | awk '{printf "%.0f", $3/1024}')")
done
echo "Measured $(date -u +%Y-%m-%d) from commit $(git rev-parse --short HEAD) on $(nproc) CPUs."
echo "matrix: $(med "${secs[@]}") s, $(med "${mems[@]}") MB peak (medians of $runs runs)"
states() {
  python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
cells = [(c["variant"], c["threat"], c["report"]["unique_states"]) for c in m["cells"]]
print(f"{len(cells)} cells, {sum(u for *_, u in cells):,} unique states; largest: " +
      ", ".join(f"{v} / {t} {u:,}" for v, t, u in sorted(cells, key=lambda c: -c[2])[:3]))
' "$1"
}
echo "  $(states /tmp/matrix-$$.json)"
"$bin" matrix --quiet --format json --features delivery-receipts >/tmp/matrix-receipts-$$.json 2>/dev/null || true
echo "with --features delivery-receipts:"
echo "  $(states /tmp/matrix-receipts-$$.json)"
rm -f /tmp/matrix-$$.json /tmp/matrix-receipts-$$.json
