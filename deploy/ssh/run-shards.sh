#!/usr/bin/env bash
# The same sharded run without a cluster: one shard per host over ssh, every shard
# starting at one agreed instant, then the reports gathered here and merged.
#
#   deploy/ssh/run-shards.sh PROFILE HOST [HOST ...]
#
# Each host needs the `stampede` binary on its PATH (copy target/release/stampede
# there) and a synchronised clock (chrony/NTP: the shards' windows line up only as well
# as their clocks do; each report records the kernel's estimate of its clock error).
# Environment: LEAD (seconds until the start, default 60), THREADS (engine threads per
# host, default: every core), OUT (local folder, default reports/<name>-sharded-<time>).
# Every file the profile reads (`stampede validate --files`) is copied beside it, and
# the variables it names as ${VAR} are passed on, with STAMPEDE_ALLOW_TARGET: a target
# outside loopback must be confirmed here (export STAMPEDE_ALLOW_TARGET=HOST) or every
# shard refuses it (exit 2, nothing sent).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 PROFILE HOST [HOST ...]" >&2; exit 2; }
profile=$1; shift
hosts=("$@")
n=${#hosts[@]}
lead=${LEAD:-60}
run_id="sharded-$(date -u +%Y%m%d-%H%M%S)"
out=${OUT:-reports/$run_id}
start_at=$(date -u -d "+${lead} seconds" +%Y-%m-%dT%H:%M:%SZ)
dir=$(dirname "$profile")
stampede validate "$profile" >/dev/null   # exits 2 naming what is wrong, before any host is touched
mapfile -t files < <(stampede validate --files "$profile")
# The environment each shard needs, quoted for the remote shell: the profile's ${VAR}
# (secrets stay out of the copied files) and the confirmation.
vars=$(grep -o '\${[A-Za-z_][A-Za-z0-9_]*}' "$profile" | tr -d '${}' | sort -u || true)
env_words=""
for v in $vars STAMPEDE_ALLOW_TARGET; do
  if [ -n "${!v+x}" ]; then env_words+=" $v=$(printf '%q' "${!v}")"; fi
done
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")

echo "run $run_id: $n shards of $profile, starting at $start_at"
mkdir -p "$out"
pids=()
for i in "${!hosts[@]}"; do
  h=${hosts[$i]}
  remote="/tmp/stampede-$run_id"
  ssh "$h" "mkdir -p $remote" && scp -q "$profile" "$h:$remote/profile.yaml"
  for f in "${files[@]}"; do
    rel=${f#"$dir"/}
    ssh "$h" "mkdir -p $remote/$(dirname "$rel")" && scp -q "$f" "$h:$remote/$rel"
  done
  # Each shard is told its index the way the Kubernetes Job tells it: JOB_COMPLETION_INDEX.
  ssh "$h" "cd $remote && JOB_COMPLETION_INDEX=$i$env_words stampede run profile.yaml --shard auto --shards $n \
      --start-at $start_at ${threads[*]} --out shard-$i --quiet" &
  pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
  # Exit 1 is a shard's own thresholds; they are judged on the merged run.
  wait "${pids[$i]}" || { rc=$?; [ "$rc" -eq 1 ] || { echo "shard $i on ${hosts[$i]} exited $rc" >&2; failed=1; }; }
done
for i in "${!hosts[@]}"; do
  scp -q -r "${hosts[$i]}:/tmp/stampede-$run_id/shard-$i" "$out/" || failed=1
done
[ "$failed" -eq 0 ] || echo "some shards failed: the merge will name what is missing" >&2
stampede merge "$out" --out "$out/merged"
