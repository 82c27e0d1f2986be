#!/usr/bin/env bash
# Wall time of one problem set searched here, by one queue worker and by two (README, "Several machines").
# Usage: scripts/queue-walltime.sh [PROBLEMS=20] [MODEL=test/.tmp/models/tiny-qwen2-f32.gguf]
# Needs redis-server and a built checkout (npm install; the model is the one `npm test` makes).
# Every variant has 4 problems in flight in all; decode threads: 1 per worker, then one worker with 2.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-20}"
model="${2:-test/.tmp/models/tiny-qwen2-f32.gguf}"
cli=(node dist/lib/cli/main.js)
work="$(mktemp -d)"
port="$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --maxmemory-policy noeviction --dir "$work" >"$work/redis.log" 2>&1 &
redis_pid=$!
workers=()
cleanup() { kill "${workers[@]}" "$redis_pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
url="redis://127.0.0.1:$port/0"
until grep -qs 'Ready to accept' "$work/redis.log"; do sleep 0.1; done
echo '{"search":{"maxStepTokens":256}}' >"$work/search.json"
search=(--policy "$model" --problems gsm8k --limit "$n" --rollouts 2 --candidates 4 --config "$work/search.json" --quiet --json)

wall() { # label, command...: prints the label and the run's wall seconds
  local label="$1" t0 t1
  shift
  t0=$(date +%s.%N)
  "$@" >/dev/null
  t1=$(date +%s.%N)
  printf '%-44s %6.1f s\n' "$label" "$(awk "BEGIN { print $t1 - $t0 }")"
}
start_worker() { # concurrency, threads
  "${cli[@]}" worker --queue "$url" --concurrency "$1" --threads "$2" --quiet >/dev/null 2>&1 &
  workers+=($!)
}
stop_workers() { kill "${workers[@]}" 2>/dev/null || true; wait "${workers[@]}" 2>/dev/null || true; workers=(); }

echo "$n GSM8K problems, $(basename "$model"), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
wall "local: generate, 4 at once, 1 thread" "${cli[@]}" generate "${search[@]}" --out "$work/local" --concurrency 4 --threads 1
start_worker 4 1
wall "queue: 1 worker, 4 at once, 1 thread" "${cli[@]}" generate "${search[@]}" --out "$work/one" --queue "$url"
stop_workers
start_worker 2 1
start_worker 2 1
wall "queue: 2 workers, 2 at once and 1 thread each" "${cli[@]}" generate "${search[@]}" --out "$work/two" --queue "$url"
stop_workers
start_worker 4 2
wall "queue: 1 worker, 4 at once, 2 threads" "${cli[@]}" generate "${search[@]}" --out "$work/one-2t" --queue "$url"
stop_workers
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
