#!/usr/bin/env bash
# One search over several workers: each scenario given (default: the ladder's two largest
# rungs) checked RUNS times by the single-thread search, by 1 and 2 workers (--threads), and by
# 2 processes of one worker each on loopback (--processes 2); prints one Markdown row per
# scenario and set-up with medians of seconds, peak memory per process (process 0's, and the
# other's) and unique states per second, and checks that every set-up reports the same unique
# state count; then the date, the commit and the load average before the runs (wall seconds:
# the point is how much sooner more workers finish, so nothing else may run meanwhile). Usage:
#   bash benches/cluster.sh [RUNS] [SCENARIO...]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(benches/scenarios/ladder-7-three-devices-both-ways.toml benches/scenarios/ladder-8-and-an-sms.toml)
cargo build --release --locked -q
bin=target/release/imessage-model
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
med() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
unique() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["scenarios"][0]["unique_states"])' "$1"; }
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "| scenario | set-up | unique states | seconds (median of $runs) | peak MB, process 0 | peak MB, process 1 | unique states/s |"
echo "|---|---|---|---|---|---|---|"
for f in "${files[@]}"; do
  name=$(basename "$f" .toml)
  want=""
  for setup in single "threads 1" "threads 2" "processes 2"; do
    secs=(); mem0=(); mem1=()
    for _ in $(seq "$runs"); do
      case "$setup" in
        single) args=() ;;
        "threads 1") args=(--threads 1) ;;
        "threads 2") args=(--threads 2) ;;
      esac
      if [ "$setup" = "processes 2" ]; then
        read -r p0 p1 < <(python3 -c 'import socket
ss=[socket.socket() for _ in range(2)]
[s.bind(("127.0.0.1", 0)) for s in ss]
ports=[s.getsockname()[1] for s in ss]
[s.close() for s in ss]
print(*ports)')
        printf '127.0.0.1:%s\n127.0.0.1:%s\n' "$p0" "$p1" > "$dir/hosts"
        /usr/bin/time -f "%e %M" -o "$dir/t1" "$bin" check --quiet --format json --processes 2 --process 1 --hostfile "$dir/hosts" "$f" > /dev/null &
        other=$!
        /usr/bin/time -f "%e %M" -o "$dir/t0" "$bin" check --quiet --format json --processes 2 --process 0 --hostfile "$dir/hosts" "$f" > "$dir/out.json" || true
        wait "$other" || true
        mem1+=("$(awk '{printf "%.0f", $2/1024}' "$dir/t1")")
      else
        /usr/bin/time -f "%e %M" -o "$dir/t0" "$bin" check --quiet --format json "${args[@]}" "$f" > "$dir/out.json" || true
      fi
      secs+=("$(awk '{print $1}' "$dir/t0")")
      mem0+=("$(awk '{printf "%.0f", $2/1024}' "$dir/t0")")
      u=$(unique "$dir/out.json")
      [ -n "$want" ] || want=$u
      [ "$u" = "$want" ] || { echo "$name, $setup: $u unique states, not $want"; exit 1; }
    done
    s=$(med "${secs[@]}"); m0=$(med "${mem0[@]}")
    m1="—"; [ ${#mem1[@]} -eq 0 ] || m1=$(med "${mem1[@]}")
    rate=$(python3 -c "print(f'{int($want / max($s, 0.005)):,}')")
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$setup" "$(python3 -c "print(f'{$want:,}')")" "$s" "$m0" "$m1" "$rate"
  done
done
echo
echo "Measured on $(date -u +%Y-%m-%d) from commit $(git rev-parse --short HEAD), medians of $runs runs, wall seconds (load average before: $load)."
