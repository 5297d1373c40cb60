#!/usr/bin/env bash
# Every benchmark with --smoke: tiny sizes, every system once, no ratio judged; seconds in all.
# Fails when a benchmark crashes or one of our systems or a floor raises. Extra arguments
# (e.g. --redis-url, --postgres-url) go to every benchmark; missing services are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
for bench in benchmarks/bench_history.py benchmarks/bench_checkpoint.py benchmarks/bench_memory.py \
  benchmarks/bench_recall.py benchmarks/bench_overhead.py; do
  echo "== python $bench --smoke $*"
  if ! python "$bench" --smoke "$@"; then
    echo "== FAILED: $bench" >&2
    status=1
  fi
done
exit "$status"
