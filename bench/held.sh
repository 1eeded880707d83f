#!/usr/bin/env bash
# Held connections (issue #21): how many idle WebSocket clients one process holds, what
# each costs in user-space memory (RSS ÷ held) and the CPU per heartbeat, and, against
# the same target in the same run, what Tsung and Artillery hold per GiB and how fast
# they connect. One table at the end.
#
# The target is examples/ws_target (a lean gateway in another process: it holds every
# connection, answers each heartbeat and hands out login tokens). Its own CPU share is
# printed beside each row: a ratio against a saturated target says nothing.
#
# stampede logs each client in (POST /login) and opens its WebSocket in the warm-up, at
# up to RATE a second, then holds them for HOLD seconds with a heartbeat every 30 s at a
# seeded phase; the clients connect from 127.1.0.0/18 (16,384 source addresses:
# one address has some 28,000 ports towards one target). The peers connect N clients
# at RATE a second each and send the same heartbeat every 30 s.
#
# The script raises its own file-descriptor limits and the kernel's port range and
# connection backlogs, and prints each change; it runs as root on a machine of its own.
#
#   bench/held.sh                 # N=50000 for the three tools, then stampede alone at BIG=250000
#   N=20000 BIG=0 bench/held.sh   # quick: the side-by-side only
#   BIG=1000000 bench/held.sh     # how far towards a million
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-15000}
BIG=${BIG:-250000}
RATE=${RATE:-5000}
HOLD=${HOLD:-60}
PORT=${PORT:-9301}
PEERS=${PEERS:-"tsung artillery"}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pkill -f "tsung.*$work" 2>/dev/null || true; rm -rf "$work"' EXIT

raise() { # sysctl value
  local old
  old=$(sysctl -n "$1" | tr '\t' ' ')
  if [ "$old" != "$2" ]; then
    sysctl -qw "$1=$2" && echo "changed $1: $old -> $2"
  fi
}
echo "== limits"
raise fs.nr_open 2200000
raise fs.file-max 4400000
raise net.ipv4.ip_local_port_range "1024 65535"
raise net.core.somaxconn 65535
raise net.ipv4.tcp_max_syn_backlog 65535
want=$(( ${BIG:-0} > N ? ${BIG:-0} : N ))
ulimit -n 2100000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "ulimit -n: $(ulimit -n) (this shell and what it starts; hard limit $(ulimit -Hn))"
fds=$(ulimit -n)
if [ "$fds" != unlimited ] && [ "$want" -gt $((fds - 1000)) ]; then
  # Each client is a socket in the generator and another in the target: a process
  # cannot hold more connections than its descriptor limit, and raising the hard limit
  # needs CAP_SYS_RESOURCE.
  echo "NOTE: the hard limit on open files is $fds per process here (no CAP_SYS_RESOURCE to raise it):"
  echo "      $want held clients cannot fit; each run is capped at $((fds - 1000))"
  N=$(( N > fds - 1000 ? fds - 1000 : N ))
  [ "$BIG" -gt 0 ] && BIG=$(( BIG > fds - 1000 ? fds - 1000 : BIG ))
  [ "$BIG" -le "$N" ] && BIG=0
fi

[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release -q --bin stampede --example ws_target
bin=target/release/stampede

start_target() {
  target/release/examples/ws_target "127.0.0.1:$PORT" > "$work/target.addr" 2> "$work/target.log" &
  tpid=$!
  pids+=("$tpid")
  sleep 0.3
}
stop_target() { kill "$tpid" 2>/dev/null || true; wait "$tpid" 2>/dev/null || true; }
held_now() { tail -n 1 "$work/target.log" 2>/dev/null | awk '{print $2+0} END { if (NR == 0) print 0 }'; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
tick=$(getconf CLK_TCK)

# Waits until the target holds $1 connections, or no more arrive for 20 s (a tool that
# stalled or gave up), or $2 seconds pass; prints the seconds until the last one came.
wait_held() {
  local t0 now last=0 last_t
  t0=$(date +%s.%N)
  last_t=$t0
  while :; do
    now=$(date +%s.%N)
    local h
    h=$(held_now)
    if [ "$h" -gt "$last" ]; then last=$h; last_t=$now; fi
    [ "$h" -ge "$1" ] && break
    awk -v a="$last_t" -v b="$now" 'BEGIN { exit !(b - a > 20) }' && break
    awk -v a="$t0" -v b="$now" -v m="$2" 'BEGIN { exit !(b - a > m) }' && break
    sleep 0.2
  done
  awk -v a="$t0" -v b="$last_t" 'BEGIN { printf "%.1f", b - a }'
}

rows=()
# row tool clients held secs-to-connect peak-rss-kib cpu-per-heartbeat-us target-busy-%
row() {
  local per_gib conn_rate per_client
  per_gib=$(awk -v h="$3" -v k="$5" 'BEGIN { printf "%.0f", (k > 0) ? h / (k / 1048576) : 0 }')
  conn_rate=$(awk -v h="$3" -v s="$4" 'BEGIN { printf "%.0f", (s > 0) ? h / s : 0 }')
  per_client=$(awk -v h="$3" -v k="$5" 'BEGIN { printf "%.2f", (h > 0) ? k / h : 0 }')
  rows+=("$(printf '%-10s %9s %9s %12s %11s %12s %10s %9s' "$1" "$2" "$3" "$conn_rate" "$per_client" "$per_gib" "$6" "$7")")
}

stampede_run() { # clients
  local n=$1 warm
  cat > "$work/held.yaml" <<YAML
name: held-bench
seed: 1
target:
  nodes: ["http://127.0.0.1:$PORT"]
  timeout: 10s
  connection: fresh
  max_in_flight: 2000
  source_addresses: ["127.1.0.0/18"]
population: { simulate: $n, warmup: { rate: $RATE/s } }
baseline: { duration: $((HOLD + 40))s, rate: 1/s }   # outlives the 35 s of sampling after the warm-up
client:
  login:
    - { name: auth, request: POST /login, capture: { token: { json: /token } } }
  retry: { policy: exponential, base: 1s, cap: 30s, max_attempts: 5 }
  session:
    connect:
      websocket: /gateway
      headers: { authorization: "Bearer {{token}}" }
      heartbeat: { every: 30s, send: '{"op":"hb"}', expect_within: 10s }
observe: { window: 1s, until_recovered: 0s }
YAML
  start_target
  /usr/bin/time -f "%M %U %S" -o "$work/time" "$bin" run "$work/held.yaml" -q --threads 1 --out "$work/out" \
    > "$work/run.log" 2>&1 &
  local tpid_time=$!
  pids+=("$tpid_time")
  sleep 0.5
  # The stampede process itself, not /usr/bin/time around it.
  local spid
  spid=$(pgrep -P "$tpid_time" | head -1)
  warm=$(wait_held "$n" 900)
  sleep 5
  # Steady state: every client held, beating every 30 s.
  local c0 t0 r0 tc0 rss
  c0=$(cpu_ticks "$spid"); tc0=$(cpu_ticks "$tpid"); t0=$(date +%s.%N)
  sleep 30
  local c1 t1 tc1
  c1=$(cpu_ticks "$spid"); tc1=$(cpu_ticks "$tpid"); t1=$(date +%s.%N)
  rss=$(rss_kib "$spid")
  local held
  held=$(held_now)
  wait "$tpid_time" || true
  stop_target
  local beats cpu_us busy
  # Over the 30 s sampled, every held client beat once.
  cpu_us=$(awk -v a="$c0" -v b="$c1" -v t="$tick" -v h="$held" 'BEGIN { printf "%.1f", (h > 0) ? (b - a) / t * 1e6 / h : 0 }')
  busy=$(awk -v a="$tc0" -v b="$tc1" -v t="$tick" -v s0="$t0" -v s1="$t1" 'BEGIN { printf "%.0f", (b - a) / t / (s1 - s0) * 100 }')
  beats=$(python3 -c "import json,sys; r=json.load(open('$work/out/report.json')); print(r['totals'].get('held',{}).get('heartbeats',0))" 2>/dev/null || echo "?")
  echo "stampede $n: held $held, warm-up ${warm}s, RSS $rss KiB in the steady state, $beats heartbeats in the run, target busy $busy% while holding"
  row stampede "$n" "$held" "$warm" "$rss" "$cpu_us" "$busy"
}

# A peer started against the target: waits for its clients, samples the CPU of its
# processes (those matching PATTERN) and the target's over 30 s of holding, sums their
# RSS, stops them and adds the row.
measure_peer() { # tool clients pattern what
  local tool=$1 n=$2 pattern=$3 what=$4
  local warm procs rss=0 c0=0 c1=0 tc0 tc1 t0 t1 held cpu_us busy
  warm=$(wait_held "$n" 900)
  sleep 5
  procs=$(pgrep -f "$pattern" | tr '\n' ' ' || true)
  for p in $procs; do c0=$((c0 + $(cpu_ticks "$p"))); done
  tc0=$(cpu_ticks "$tpid"); t0=$(date +%s.%N)
  sleep 30
  for p in $procs; do c1=$((c1 + $(cpu_ticks "$p"))); rss=$((rss + $(rss_kib "$p"))); done
  tc1=$(cpu_ticks "$tpid"); t1=$(date +%s.%N)
  held=$(held_now)
  pkill -f "$pattern" 2>/dev/null || true
  stop_target
  cpu_us=$(awk -v a="$c0" -v b="$c1" -v t="$tick" -v h="$held" 'BEGIN { printf "%.1f", (h > 0) ? (b - a) / t * 1e6 / h : 0 }')
  busy=$(awk -v a="$tc0" -v b="$tc1" -v t="$tick" -v s0="$t0" -v s1="$t1" 'BEGIN { printf "%.0f", (b - a) / t / (s1 - s0) * 100 }')
  echo "$tool $n: held $held, connected in ${warm}s, RSS $rss KiB ($what), target busy $busy%"
  row "$tool" "$n" "$held" "$warm" "$rss" "$cpu_us" "$busy"
}

tsung_run() { # clients
  local n=$1 ips=""
  for i in $(seq 1 32); do ips+="<ip value=\"127.2.0.$i\"/>"; done
  cat > "$work/tsung.xml" <<XML
<?xml version="1.0"?>
<!DOCTYPE tsung SYSTEM "/usr/share/tsung/tsung-1.0.dtd">
<tsung loglevel="error" dumptraffic="false">
  <clients><client host="localhost" use_controller_vm="true" maxusers="$((n + 1000))">$ips</client></clients>
  <servers><server host="127.0.0.1" port="$PORT" type="tcp"/></servers>
  <load><arrivalphase phase="1" duration="$(( (n + RATE - 1) / RATE * 4 + 10 ))" unit="second">
    <users maxnumber="$n" arrivalrate="$RATE" unit="second"/></arrivalphase></load>
  <sessions><session name="held" probability="100" type="ts_websocket">
    <request><websocket type="connect" path="/gateway"/></request>
    <for from="1" to="$(( HOLD / 30 + 8 ))" var="i">
      <thinktime value="30"/>
      <request><websocket type="message" ack="no_ack">{"op":"hb"}</websocket></request>
    </for>
  </session></sessions>
</tsung>
XML
  start_target
  (cd "$work" && tsung -f "$work/tsung.xml" -l "$work/tsung-log" start > "$work/tsung.out" 2>&1) &
  pids+=("$!")
  measure_peer tsung "$n" "beam.*tsung" "its Erlang VMs"
}

artillery_run() { # clients
  local n=$1
  command -v artillery >/dev/null || { echo "artillery: not installed (npm i -g artillery)"; return; }
  cat > "$work/artillery.yml" <<YAML
config:
  target: "ws://127.0.0.1:$PORT/gateway"
  phases: [ { duration: $(( (n + RATE - 1) / RATE )), arrivalRate: $RATE, maxVusers: $n } ]
scenarios:
  - engine: ws
    flow:
      - loop:
          - send: '{"op":"hb"}'
          - think: 30
        count: $(( HOLD / 30 + 8 ))
YAML
  start_target
  artillery run --quiet "$work/artillery.yml" > "$work/artillery.out" 2>&1 &
  pids+=("$!")
  measure_peer artillery "$n" "node.*artillery" "its node processes"
}

echo "== $N clients each, connecting at up to $RATE/s, holding ${HOLD}s"
stampede_run "$N"
for p in $PEERS; do
  case $p in
    tsung) command -v tsung >/dev/null && tsung_run "$N" || echo "tsung: not installed (apt-get install tsung)" ;;
    artillery) artillery_run "$N" ;;
  esac
done
if [ "$BIG" -gt 0 ]; then
  echo "== stampede alone: $BIG clients"
  stampede_run "$BIG"
fi

echo
printf '%-10s %9s %9s %12s %11s %12s %10s %9s\n' tool clients held "connects/s" "KiB/client" "held/GiB" "cpu/hb us" "target%"
for r in "${rows[@]}"; do echo "$r"; done
echo "goals: stampede <= 4 KiB per idle held client (RSS / held, the whole process);"
echo "       held per GiB >= 4x tsung's; connects/s >= 2x tsung's (stampede's include a login each)"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem/ {print $2}') GiB, $(date -u +%F), load $(cut -d' ' -f1-3 /proc/loadavg)"
