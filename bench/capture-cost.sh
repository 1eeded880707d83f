#!/usr/bin/env bash
# What a JSON capture costs per login (issue #12: at most 2 µs of CPU over the same
# flow without one), from one run of this script.
#
# The target: nginx, one worker pinned to CPU 1, answering `POST /login` with a short
# JSON token and `POST /join` with 204. stampede (one engine thread, pinned to CPU 0)
# runs the same two-step keep-alive login at a constant RATE for SECS, twice per round,
# interleaved: once with the token written into step 2's header as a constant, once
# captured from step 1's body (`capture: { token: { json: /token } }`) and sent as
# `Bearer {{token}}`. It prints the generator's CPU (user + system) per login of both,
# medians and minima over ROUNDS (on a shared machine the least-disturbed run is the
# cost), and the difference.
#
#   bench/capture-cost.sh
#   SECS=5 ROUNDS=3 RATE=5000 bench/capture-cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-5}
RATE=${RATE:-10000}
PORT=${PORT:-18090}
TOKEN=t-4f9a1c2e7b
work=$(mktemp -d)
trap 'kill $(cat "$work"/nginx.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }
if ! need nginx || ! need taskset || ! [ -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light util-linux time >/dev/null
fi
cargo build --release -q --bin stampede
bin=target/release/stampede

. bench/nginx.sh
nginx_start "$work/nginx" "
    listen 127.0.0.1:$PORT backlog=16384;
    location = /login { default_type application/json; return 200 '{\"token\":\"$TOKEN\"}'; }
    location = /join { return 204; }"

profile() { # name capture?
  local capture="" bearer=$TOKEN
  if [ "$2" = yes ]; then
    capture=", capture: { token: { json: /token } }"
    bearer="{{token}}"
  fi
  cat > "$work/$1.yaml" <<YAML
name: $1
target: { nodes: ["http://127.0.0.1:$PORT"], timeout: 2s, connection: reuse, max_connections: 64 }
population: { simulate: 1 }
baseline: { duration: ${SECS}s, rate: $RATE/s, arrivals: uniform }
client:
  login:
    - { name: auth, request: POST /login, body: '{"u":"{{client}}"}'$capture }
    - { name: join, request: POST /join, headers: { authorization: "Bearer $bearer" }, expect: 204 }
  retry: { policy: none }
observe: { window: 1s, until_recovered: 0s }
YAML
  echo "$work/$1.yaml"
}
plain=$(profile plain no)
captured=$(profile captured yes)

# Prints "cpu-us-per-login logins-ok/s failed" for one run.
run() { # profile
  rm -rf "$work/out"
  taskset -c 0 /usr/bin/time -f "%U %S" -o "$work/cpu" "$bin" run -q "$1" --threads 1 --out "$work/out" >/dev/null || true
  python3 - "$work/cpu" "$work/out/report.json" <<'PY'
import json, sys
u, s = map(float, open(sys.argv[1]).read().split()[-2:])
r = json.load(open(sys.argv[2]))
t = r["totals"]
ok = t["logins_ok"]
print(round((u + s) * 1e6 / ok, 2) if ok else 0, round(ok / (r["plan"]["ended_ms"] / 1000)), t["attempts"] - ok)
PY
}
median() { python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 2))" "$@"; }

a_cpu=() b_cpu=() a_rate=() b_rate=() a_bad=0 b_bad=0
for r in $(seq "$ROUNDS"); do
  read -r cpu rate bad <<< "$(run "$plain")"; a_cpu+=("$cpu"); a_rate+=("$rate"); a_bad=$((a_bad + bad))
  read -r cpu rate bad <<< "$(run "$captured")"; b_cpu+=("$cpu"); b_rate+=("$rate"); b_bad=$((b_bad + bad))
  echo "round $r: CPU/login without ${a_cpu[-1]} us, with ${b_cpu[-1]} us" >&2
done
ca=$(median "${a_cpu[@]}") cb=$(median "${b_cpu[@]}")
diffs=()
for i in "${!a_cpu[@]}"; do diffs+=("$(python3 -c "print(${b_cpu[$i]} - ${a_cpu[$i]})")"); done
dd=$(median "${diffs[@]}")
# A 95 % bootstrap interval of that median: how far the machine's noise lets it be read.
ci=$(python3 -c "
import random, statistics, sys
d = [float(x) for x in sys.argv[1:]]
rng = random.Random(1)
m = sorted(statistics.median(rng.choices(d, k=len(d))) for _ in range(2000))
print(f'[{m[50]:.2f}, {m[1949]:.2f}]')" "${diffs[@]}")
printf '%-42s %12s %12s %12s  %s\n' figure "no capture" "json capture" difference goal
printf '%-42s %12s %12s %12s  %s\n' "CPU per login (us), median of $ROUNDS" "$ca" "$cb" "$(python3 -c "print(round($cb - $ca, 2))")" "<= 2"
printf '%-42s %12s %12s %12s  %s\n' "CPU per login difference, median of pairs" "-" "-" "$dd" "<= 2 (95% CI $ci)"
# The least-disturbed run of each: on a shared machine, the minimum is the cost.
ma=$(python3 -c "import sys; print(min(float(x) for x in sys.argv[1:]))" "${a_cpu[@]}")
mb=$(python3 -c "import sys; print(min(float(x) for x in sys.argv[1:]))" "${b_cpu[@]}")
printf '%-42s %12s %12s %12s  %s\n' "CPU per login (us), minimum of $ROUNDS" "$ma" "$mb" "$(python3 -c "print(round($mb - $ma, 2))")" "<= 2"
printf '%-42s %12s %12s %12s  %s\n' "logins/s (planned $RATE)" "$(median "${a_rate[@]}")" "$(median "${b_rate[@]}")" "-" "same"
printf '%-42s %12s %12s %12s  %s\n' "failed attempts, all rounds" "$a_bad" "$b_bad" "-" "0"
echo
echo "per round, without: ${a_cpu[*]}  with: ${b_cpu[*]}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), load average before: $LOAD0"
