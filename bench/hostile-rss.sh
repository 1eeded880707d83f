#!/usr/bin/env bash
# stampede's peak memory against every class of hostile target (issue #10), beside the
# same run against a healthy one, from one run of this script. Fails (exit 1) when a
# class's peak RSS is over its bound, or a run leaves no report.
#
# Each class is served by examples/hostile_target (the server tests/hostile.rs uses)
# and stormed by the release binary for SECS at RATE logins/s over fresh connections,
# with at most MAX_IN_FLIGHT attempts in flight, a 1 s timeout and up to 3 tries, with
# `--no-preflight` (the guard would stop a class whose every login fails in its first
# second, and the class's memory would be measured over 45 attempts, not SECS). Two
# flows: `drop` (a login step that reads its answer and drops the body, as every step
# without captures or checks does) and `keep` (a step with a `body_contains` check,
# which keeps its answer's body).
#
# Two classes store what the target hands back in each client's state, stormed with a
# third flow, `state` (500 clients log in, capture the answer's `token`, send it back on
# a second step and on keepalives, cookies on): `huge-capture` (a 1 MB token) and
# `cookie-flood` (a new 58 KB and a new 4 KB cookie with every answer). Their bound adds
# per client what its state may hold: a captured value (`capture::MAX_CAPTURE`, 8 KiB)
# and a jar (`jar::MAX_JAR_BYTES`, 16 KiB); a composed request head is at most 64 KiB
# (`http1::MAX_REQUEST_HEAD`), counted with the in-flight attempts.
#
# The bound, per flow: the healthy run's peak + MAX_IN_FLIGHT × what one attempt may
# hold + 32 MiB (allocator arenas, the failure examples, the report). One attempt holds
# at most its read buffer (grown to 2 × 64 KiB for a head, `http1::MAX_HEAD`), and when
# it keeps its body, at most 1 MiB of it (`capture::MAX_KEPT_BODY`; all kept bodies of
# the process together at most 256 MiB, `KEPT_BUDGET`). Peak RSS is what
# `/usr/bin/time` reports ("Maximum resident set size").
#
#   bench/hostile-rss.sh
#   SECS=5 RATE=100 bench/hostile-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${SECS:-3}
RATE=${RATE:-50}
MAX_IN_FLIGHT=${MAX_IN_FLIGHT:-64}
SLACK_MIB=${SLACK_MIB:-32}
HEAD_KIB=128
BODY_KIB=1024
CLASSES=${CLASSES:-"refuse reset garbage endless-head huge-length endless-chunked drip silent informational short-length retry-after=1e300 retry-after=-5 retry-after=18446744073709551616 dies-mid-run"}
STATE_CLASSES=${STATE_CLASSES:-"huge-capture cookie-flood"}
STATE_CLIENTS=${STATE_CLIENTS:-500}
CAPTURE_KIB=8
JAR_KIB=16
REQUEST_KIB=64
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release -q --bin stampede --example hostile_target
bin=target/release/stampede
srv=target/release/examples/hostile_target

profile() { # addr flow
  local expect=200
  [ "$2" = keep ] && expect='{ status: 200, body_contains: ok }'
  if [ "$2" = state ]; then
    cat > "$work/p.yaml" <<YAML
name: hostile-rss-state
seed: 5
target: { nodes: ["http://$1"], timeout: 1s, connection: reuse, max_in_flight: $MAX_IN_FLIGHT }
population: { simulate: $STATE_CLIENTS }
storm: { waves: [ { share: 100%, spread: "uniform(${SECS}s)" } ] }
client:
  cookies: true
  login:
    - { name: auth, request: POST /login, capture: { token: { json: /token } } }
    - { name: join, request: POST /join, headers: { authorization: "Bearer {{token}}" } }
  retry: { policy: none }
  session: { keepalive: { request: POST /keepalive, headers: { authorization: "Bearer {{token}}" } }, every: 500ms, initially_online: false }
observe: { window: 250ms, until_recovered: 1s }
YAML
    return
  fi
  cat > "$work/p.yaml" <<YAML
name: hostile-rss
seed: 5
target: { nodes: ["http://$1"], timeout: 1s, connection: fresh, max_in_flight: $MAX_IN_FLIGHT }
population: { simulate: 1 }
baseline: { duration: ${SECS}s, rate: $RATE/s }
client:
  login: [ { name: get, request: GET /login, expect: $expect } ]
  retry: { policy: fixed, base: 100ms, cap: 200ms, max_attempts: 3, honor_retry_after: true }
observe: { window: 250ms, until_recovered: 0s }
YAML
}

# Prints "peak-KiB wall-s exit attempts top-outcome" for one class and flow.
measure() { # class flow
  mkfifo "$work/in"
  "$srv" "$1" < "$work/in" > "$work/addr" &
  server_pid=$!
  exec 3> "$work/in" # the server runs until this closes
  rm "$work/in"
  for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
  profile "$(head -1 "$work/addr")" "$2"
  rm -rf "$work/out"
  local code=0
  /usr/bin/time -f "%M %e" -o "$work/time" "$bin" run -q --no-preflight "$work/p.yaml" --out "$work/out" >/dev/null 2>"$work/err" || code=$?
  exec 3>&-
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  local outcome="no-report"
  if [ -f "$work/out/report.json" ]; then
    outcome=$(python3 -c "
import json,sys
t=json.load(open(sys.argv[1]))['totals']
o=sorted(t['outcomes'].items(), key=lambda kv: -kv[1])
print(t['attempts'], ' '.join(f'{k}:{v}' for k,v in o[:2]))" "$work/out/report.json")
  fi
  echo "$(tail -1 "$work/time") $code $outcome"
}

mib() { python3 -c "import sys; print(round(int(sys.argv[1])/1024, 1))" "$1"; }

failed=0
printf '%-34s %-5s %9s %9s %10s %7s %5s %9s  %-8s %s\n' class flow "peak MiB" "× healthy" "bound MiB" "wall s" exit attempts verdict "outcomes (top 2)"
for flow in drop keep state; do
  per_kib=$HEAD_KIB
  [ "$flow" = keep ] && per_kib=$((HEAD_KIB + BODY_KIB))
  classes=$CLASSES
  if [ "$flow" = state ]; then
    # Every attempt may hold a head buffer, a kept body and a composed request; every
    # client its captured value and its jar.
    per_kib=$((HEAD_KIB + BODY_KIB + REQUEST_KIB))
    classes=$STATE_CLASSES
  fi
  base=
  first=healthy
  [ "$flow" = state ] && first=healthy-state
  for class in $first $classes; do
    read -r kib wall code attempts outcomes <<< "$(measure "$class" "$flow")"
    if [ -z "$base" ]; then
      # The healthy run comes first: the others' bound is from its peak.
      base=$kib
      bound=$(( (base + MAX_IN_FLIGHT * per_kib) / 1024 + SLACK_MIB ))
      [ "$flow" = state ] && bound=$(( bound + STATE_CLIENTS * (CAPTURE_KIB + JAR_KIB) / 1024 ))
    fi
    verdict=ok
    if [ "$outcomes" = "" ] || [ "$attempts" = no-report ]; then verdict="FAIL:no-report"; failed=1; fi
    if [ $((kib / 1024)) -gt "$bound" ]; then verdict="FAIL:bound"; failed=1; fi
    times=$(python3 -c "import sys; print(round(int(sys.argv[1])/int(sys.argv[2]), 2))" "$kib" "$base")
    printf '%-34s %-5s %9s %9s %10s %7s %5s %9s  %-8s %s\n' "$class" "$flow" "$(mib "$kib")" "$times" "$bound" "$wall" "$code" "$attempts" "$verdict" "$outcomes"
  done
done
echo
echo "bound = healthy peak + $MAX_IN_FLIGHT in flight × (${HEAD_KIB} KiB head buffer, + 1 MiB kept body for keep) + ${SLACK_MIB} MiB"
echo "state: + $MAX_IN_FLIGHT in flight × ${REQUEST_KIB} KiB request head and 1 MiB kept body, + $STATE_CLIENTS clients × (${CAPTURE_KIB} KiB capture + ${JAR_KIB} KiB jar)"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
exit "$failed"
