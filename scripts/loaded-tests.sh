#!/usr/bin/env bash
# The suite under load (issue 12 point 5): `npm test` several times in a row
# while two `yes > /dev/null` keep both cores of the machine busy, as another
# engineer's run would. Stops at the first failing run; prints each run's
# duration, its test runner summary and the load average.
# Usage: bash scripts/loaded-tests.sh [runs, default 3] [log directory, default /tmp/loaded-tests] [npm test's filters...]
set -uo pipefail
runs=${1:-3}
logs=${2:-/tmp/loaded-tests}
shift $(( $# < 2 ? $# : 2 ))
mkdir -p "$logs"
cd "$(dirname "$0")/.."

load=()
stop_load() {
  [ ${#load[@]} -eq 0 ] || kill "${load[@]}" 2>/dev/null
  wait 2>/dev/null
}
trap stop_load EXIT
trap 'exit 130' INT TERM
for _ in 1 2; do
  yes > /dev/null &
  load+=($!)
done

for run in $(seq 1 "$runs"); do
  start=$(date +%s)
  npm test -- "$@" > "$logs/run-$run.log" 2>&1
  code=$?
  seconds=$(( $(date +%s) - start ))
  summary=$(grep -E '^# (tests|pass|fail|cancelled|skipped|todo) ' "$logs/run-$run.log" | sed 's/^# //' | paste -sd, - | sed 's/,/, /g')
  printf 'run %d of %d: exit %d after %d min %02d s (%s); load average %s; log %s\n' \
    "$run" "$runs" "$code" $((seconds / 60)) $((seconds % 60)) "$summary" "$(cut -d' ' -f1-3 /proc/loadavg)" "$logs/run-$run.log"
  [ "$code" -eq 0 ] || exit "$code"
done
