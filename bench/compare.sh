#!/usr/bin/env bash
# stampede against its peers on this machine, side by side from one run.
#
# The target (nginx, one worker) is pinned to CPU 1 and the generators to CPU 0, and
# the tools are measured interleaved on the same target, so ratios are comparable on a
# small, noisy machine. Every run reports its generator's CPU per request and both
# cores' busy share: a ratio whose target core was over 90 % busy is marked
# target-bound (it compares two generators waiting on the same target).
#
#   bench/compare.sh                    # 10 s per measurement, 3 rounds
#   SECS=5 ROUNDS=3 bench/compare.sh    # quicker
#   PARTS=h2 bench/compare.sh           # only the HTTP/2 rows (PARTS: http1, h2; default both)
#   STAMPEDE=target/debug/stampede ...  # that binary, no release build
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD0=$(cut -d" " -f1-3 /proc/loadavg)
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
# A port, or, when something uses it now (another load test's ephemeral ports can take
# any port on a busy loopback), a free one the kernel picks.
port_or_free() {
  python3 - "$1" <<'PY'
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    s.bind(("127.0.0.1", 0))
    print(f"port {sys.argv[1]} is in use: {s.getsockname()[1]} instead", file=sys.stderr)
print(s.getsockname()[1])
PY
}
PORT=$(port_or_free "${PORT:-18080}")
TLS_PORT=$(port_or_free "${TLS_PORT:-18443}")
OVERLAY_PORT=$(port_or_free "${OVERLAY_PORT:-18081}")
H2_PORT=$(port_or_free "${H2_PORT:-18082}")
H2_TLS_PORT=$(port_or_free "${H2_TLS_PORT:-18444}")
PARTS=${PARTS:-http1,h2}
part() { [[ ",$PARTS," == *",$1,"* ]]; }
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

need() { command -v "$1" >/dev/null 2>&1; }
export PATH="$PATH:/usr/sbin"
if ! need wrk || ! need nginx || ! need h2load || ! need taskset || ! need openssl || ! [ -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light nghttp2-client util-linux time openssl >/dev/null
fi
need oha || cargo install oha --locked
[ -n "${STAMPEDE:-}" ] || cargo build --release -q
bin=${STAMPEDE:-target/release/stampede}

# The trivial target (bench/nginx.sh), answering 200 to everything, over TLS 1.3 too
# (P-256, no resumption: every fresh login a full handshake).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
  -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
. bench/nginx.sh
nginx_start "$work/nginx" "
    listen 127.0.0.1:$PORT backlog=16384;
    listen 127.0.0.1:$TLS_PORT ssl backlog=16384;
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_tickets off;
    ssl_session_cache off;
    location = /token { default_type application/json; add_header Set-Cookie \"sid=s-4f9a1c2e7b; Path=/; HttpOnly\"; return 200 '{\"session\":\"t-4f9a1c2e7b\"}'; }
    location = /join { return 204; }
    location / { return 200 \"ok\\n\"; }"
url="http://127.0.0.1:$PORT/login"
tls_url="https://localhost:$TLS_PORT/login"

# A stampede profile offering `rate`/s for SECS (`http`: 2 for HTTP/2; unset, 1.1).
profile() { # name rate connection max_connections max_in_flight [node] [http] [arrivals]
  cat > "$work/$1.yaml" <<YAML
name: $1
target: { nodes: ["${6:-http://127.0.0.1:$PORT}"]${7:+, http: $7}, timeout: 2s, connection: $3, max_connections: $4, max_in_flight: $5, tls: { verify: false } }
population: { simulate: 1 }
baseline: { duration: ${SECS}s, rate: $2/s${8:+, arrivals: $8} }
client:
  login: [ { name: get, request: GET /login } ]
  retry: { policy: none }
observe: { window: 1s, until_recovered: 0s }
YAML
  echo "$work/$1.yaml"
}
field() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1/report.json" "$2"; }

rows=()
row() { rows+=("$(printf '%-50s %10s %10s %8s  %-15s %s' "$@")"); }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}x' if b else '-')" "$1" "$2"; }
median() { python3 -c "import statistics,sys; v=statistics.median(float(x) for x in sys.argv[1:]); print(int(v) if v >= 100 else round(v, 3))" "$@"; }

# Busy share of CPU 0 (generators) and CPU 1 (target) over a run, from /proc/stat.
snap() { awk '/^cpu[01] / {idle=$5+$6; t=0; for(i=2;i<=NF;i++) t+=$i; print $1, t, idle}' /proc/stat; }
busy() { # before after -> "tool% target%"
  python3 - "$1" "$2" <<'PY'
import sys
def parse(s):
    d = {}
    for line in s.strip().splitlines():
        k, t, i = line.split(); d[k] = (int(t), int(i))
    return d
a, b = parse(sys.argv[1]), parse(sys.argv[2])
out = []
for k in ("cpu0", "cpu1"):
    dt = b[k][0] - a[k][0]; di = b[k][1] - a[k][1]
    out.append(str(round(100 * (1 - di / dt)) if dt else 0))
print(" ".join(out))
PY
}
# SYNs dropped because a listen queue was full, since boot (the accept backlog).
overflows() { awk '/^TcpExt:/ {if (!h) {for(i=1;i<=NF;i++) if ($i=="ListenOverflows") c=i; h=1} else print $c}' /proc/net/netstat; }
# Function-call IPIs taken by CPU 0 and CPU 1 since boot: each is one core waking a task
# that sleeps on the other (a send waking the idle target, its answer waking the idle
# generator). On a virtual machine each costs an exit to the hypervisor, charged to the
# sender's syscall: what an isolated send costs beyond a batched one.
ipis() { awk '$1 == "CAL:" {print $2, $3}' /proc/interrupts; }
# Runs a generator pinned to `cpus`, timed; leaves its CPU time in $work/cpu, and both
# cores' busy share and the listen-queue overflows during the run in $work/busy.
# The generator's user and system time come from `perf stat` (its user_time and
# system_time, the child's rusage in ns) where perf works, else from /usr/bin/time.
PERF=""
if need perf && perf stat -x, -e user_time,system_time -o /dev/null true 2>/dev/null; then PERF=1; fi
timed() { # cpus cmd...
  local cpus=$1; shift
  local s0 o0 i0; s0=$(snap); o0=$(overflows); i0=$(ipis)
  basename "$1" > "$work/tool"
  if [ -n "$PERF" ]; then
    taskset -c "$cpus" perf stat -x, -e user_time,system_time -o "$work/perf" "$@"
    awk -F, '$3 == "user_time" {u = $1 + 0} $3 == "system_time" {s = $1 + 0} END {printf "%.6f %.6f\n", u / 1e9, s / 1e9}' "$work/perf" > "$work/cpu"
  else
    taskset -c "$cpus" /usr/bin/time -f "%U %S" -o "$work/cpu" "$@"
  fi
  echo "$(busy "$s0" "$(snap)") $(( $(overflows) - o0 ))" > "$work/busy"
  local i1; i1=$(ipis)
  echo "$(( $(nth "$i1" 1) - $(nth "$i0" 1) )) $(( $(nth "$i1" 2) - $(nth "$i0" 2) ))" > "$work/ipi"
}
# CPU microseconds per request, from the last timed run and its request count; the
# user/system split goes to $work/splits under the current SECTION, for the closing
# table.
SECTION=""
cpu_per() {
  python3 - "$work/cpu" "$1" "$work/splits" "$SECTION" "$(cat "$work/tool" 2>/dev/null)" "$(cat "$work/ipi" 2>/dev/null)" <<'PY'
import sys
u, s = map(float, open(sys.argv[1]).read().split()[-2:])
n = float(sys.argv[2])
i = (sys.argv[6].split() + ["0", "0"])[:2]
if n:
    with open(sys.argv[3], "a") as f:
        f.write(f"{sys.argv[4]}|{sys.argv[5]}|{u * 1e6 / n:.3f}|{s * 1e6 / n:.3f}|{int(i[0]) / n:.3f}|{int(i[1]) / n:.3f}\n")
print(round((u + s) * 1e6 / n, 2) if n else 0)
PY
}
# The closing table: user and system µs per request, medians per section and tool.
splits_table() {
  [ -s "$work/splits" ] || return 0
  echo
  echo "user vs system CPU per request (us, medians of the rounds; $( [ -n "$PERF" ] && echo "perf stat user_time/system_time" || echo "/usr/bin/time" )),"
  echo "and cross-core wake-ups per request (function-call IPIs into the generator's core, CPU 0, and the target's, CPU 1)"
  python3 - "$work/splits" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    sec, tool, u, s, i0, i1 = line.rstrip("\n").split("|")
    rows.setdefault((sec, tool), []).append(tuple(map(float, (u, s, i0, i1))))
print(f"{'section':<44} {'tool':<10} {'user':>8} {'system':>8} {'user %':>7} {'IPI->tool':>10} {'IPI->target':>12}")
for (sec, tool), v in rows.items():
    u, s, i0, i1 = (statistics.median(x[k] for x in v) for k in range(4))
    print(f"{sec:<44} {tool:<10} {u:8.2f} {s:8.2f} {100 * u / (u + s) if u + s else 0:6.0f}% {i0:10.2f} {i1:12.2f}")
PY
}
# Each prints "requests/s cpu-us-per-request p99-ms tool-busy% target-busy%
# listen-overflows".
wrk_run() { # cpus threads [wrk args]
  local cpus=$1 t=$2; shift 2
  local out; out=$(timed "$cpus" wrk -t"$t" -c"$CONNS" -d"${SECS}s" --latency "$@" "$url")
  local p99; p99=$(echo "$out" | awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) sub(/ms/,"",v); else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}')
  echo "$(echo "$out" | awk '/Requests\/sec/ {print int($2)}') $(cpu_per "$(echo "$out" | awk '/requests in/ {print $1}')") ${p99:-0} $(cat "$work/busy")"
}
oha_run() { # cpus [oha args] (the last one the URL)
  local cpus=$1; shift
  local out; out=$(timed "$cpus" oha -z "${SECS}s" -c "$CONNS" --no-tui --output-format json "$@")
  local rps n p99
  rps=$(echo "$out" | python3 -c "import json,sys; print(int(json.load(sys.stdin)['summary']['requestsPerSec']))")
  n=$(echo "$out" | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(d.get('statusCodeDistribution',{}).values()) + sum(d.get('errorDistribution',{}).values()))")
  p99=$(echo "$out" | python3 -c "import json,sys; print(round(1000*json.load(sys.stdin)['latencyPercentiles']['p99'],3))")
  p50=$(echo "$out" | python3 -c "import json,sys; print(round(1000*json.load(sys.stdin)['latencyPercentiles']['p50'],3))")
  echo "$rps $(cpu_per "$n") $p99 $(cat "$work/busy") $p50"
}
st_run() { # cpus profile out [stampede args]
  local cpus=$1 p=$2 o=$3; shift 3
  timed "$cpus" "$bin" run -q "$p" --out "$o" "$@" >/dev/null || true
  local ok; ok=$(field "$o" "round(r['totals']['logins_ok']/(r['plan']['ended_ms']/1000))")
  # Then service time p99 and send lag p99 (ms): where a latency tail comes from.
  echo "$ok $(cpu_per "$(field "$o" "r['totals']['attempts']")") $(field "$o" "r['totals']['latency_ms']['p99']") $(cat "$work/busy") $(field "$o" "r['totals']['service_ms']['p99']") $(field "$o" "r['engine']['send_lag_ms']['p99']")"
}
nth() { echo "$1" | cut -d' ' -f"$2"; }
# Medians of column `col` over a list of result lines.
col() { local c=$1; shift; local v=(); for x in "$@"; do v+=("$(nth "$x" "$c")"); done; median "${v[@]}"; }
# "busy tool/target %", and target-bound when the target core was over 90 % busy.
load_note() { # lines...
  local tool tgt; tool=$(col 4 "$@"); tgt=$(col 5 "$@")
  if [ "${tgt%.*}" -gt 90 ]; then echo "cpu ${tool}/${tgt}% TARGET-BOUND"; else echo "cpu ${tool}/${tgt}%"; fi
}
# One comparison: rate, CPU per request (peer / stampede: above 1.0x stampede spends
# less), p99; each with the busy shares of the runs it came from.
compare() { # label peer-name st-lines-var peer-lines-var rate-goal cpu-goal
  local -n st_lines=$3 peer_lines=$4
  local sr pr sc pc
  sr=$(col 1 "${st_lines[@]}"); pr=$(col 1 "${peer_lines[@]}"); sc=$(col 2 "${st_lines[@]}"); pc=$(col 2 "${peer_lines[@]}")
  row "$1 ${UNIT:-logins}/s vs $2" "$sr" "$pr" "$(ratio "$sr" "$pr")" "$5" "st $(load_note "${st_lines[@]}") · $2 $(load_note "${peer_lines[@]}"); paired $(paired 1 st_lines peer_lines)"
  row "$1 CPU/request (us) vs $2" "$sc" "$pc" "$(ratio "$pc" "$sc")" "$6" "peer/stampede; paired $(paired 2 peer_lines st_lines)"
}
# The median of the rounds' own ratios (column `col` of a's line over b's of the same
# round): a round the host disturbed for one tool moves the ratio of the medians, less
# this one. Printed beside it.
paired() { # col a-lines-var b-lines-var
  local -n a_lines=$2 b_lines=$3
  local v=() i
  for i in "${!a_lines[@]}"; do v+=("$(nth "${a_lines[$i]}" "$1")/$(nth "${b_lines[$i]}" "$1")"); done
  python3 -c "import statistics,sys; r=[float(a)/float(b) for a,b in (x.split('/') for x in sys.argv[1:]) if float(b)]; print(f'{statistics.median(r):.2f}x' if r else '-')" "${v[@]}"
}

if part http1; then
SECTION="keep-alive"
echo "keep-alive, $CONNS connections, ${SECS}s each, $ROUNDS rounds ..." >&2
W=(); O=(); S=()
for r in $(seq "$ROUNDS"); do
  W+=("$(wrk_run 0 1)"); O+=("$(oha_run 0 "$url")")
  if [ "$r" = 1 ]; then
    best=$(( $(nth "${W[0]}" 1) > $(nth "${O[0]}" 1) ? $(nth "${W[0]}" 1) : $(nth "${O[0]}" 1) ))
    p=$(profile keepalive $((best * 13 / 10)) reuse "$CONNS" $((CONNS * 4)))
  fi
  S+=("$(st_run 0 "$p" "$work/ka")")
  echo "  round $r: wrk ${W[-1]} | oha ${O[-1]} | stampede ${S[-1]}" >&2
done
compare "keep-alive" wrk S W ">= 1.0x" ">= 1.0x"
compare "keep-alive" oha S O ">= 1.2x" ">= 1.0x"

# The storm's own bookkeeping (issue #27): the shipped token flow's two steps (a data
# file's row in the body, the session captured from the JSON answer and sent as a
# Bearer header, a cookie jar per client) against the same two requests with constant
# values, keep-alive, flat out: CPU per login (two requests) with and without.
echo "keep-alive token flow (data file, capture, cookies) vs the same requests plain ..." >&2
cp profiles/users.csv "$work/users.csv"
flow_profile() { # name bookkeeping(yes|no) rate
  local data="" body='{"user":"user0001","password":"pw"}' capture="" bearer="t-4f9a1c2e7b" cookies=""
  if [ "$2" = yes ]; then
    data="  data: users.csv"
    body='{"user":"{{data.username}}","password":"{{data.password}}"}'
    capture=", capture: { session: { json: /session } }"
    bearer="{{session}}"
    cookies="  cookies: true"
  fi
  cat > "$work/$1.yaml" <<YAML
name: $1
target: { nodes: ["http://127.0.0.1:$PORT"], timeout: 2s, connection: reuse, max_connections: $CONNS, max_in_flight: $((CONNS * 4)) }
population: { simulate: 200 }
baseline: { duration: ${SECS}s, rate: $3/s }
client:
$data
$cookies
  login:
    - { name: auth, request: POST /token, body: '$body'$capture, expect: 200 }
    - { name: join, request: POST /join, headers: { authorization: "Bearer $bearer" }, expect: 204 }
  retry: { policy: none }
observe: { window: 1s, until_recovered: 0s }
YAML
  echo "$work/$1.yaml"
}
half=$(( $(col 1 "${S[@]}") * 13 / 20 ))
fp=$(flow_profile flowplain no "$half"); ft=$(flow_profile flowtoken yes "$half")
P=(); T=()
for r in $(seq "$ROUNDS"); do
  SECTION="two requests per login, plain"
  P+=("$(st_run 0 "$fp" "$work/fp")")
  SECTION="two requests per login, token flow"
  T+=("$(st_run 0 "$ft" "$work/ft")")
  echo "  round $r: plain ${P[-1]} | token flow ${T[-1]}" >&2
done
pc=$(col 2 "${P[@]}"); tc=$(col 2 "${T[@]}")
row "token flow logins/s vs the same requests plain" "$(col 1 "${T[@]}")" "$(col 1 "${P[@]}")" "$(ratio "$(col 1 "${T[@]}")" "$(col 1 "${P[@]}")")" "-" "st $(load_note "${T[@]}") · plain $(load_note "${P[@]}")"
row "token flow CPU/login (us) vs plain" "$tc" "$pc" "$(ratio "$tc" "$pc")" "<= 1.2x" "stampede/stampede-plain; a login is two requests; paired $(paired 2 T P)"

SECTION="fresh connection per login"
echo "fresh connection per login (wrk and oha: the server closes first) ..." >&2
W=(); O=(); S=()
for r in $(seq "$ROUNDS"); do
  W+=("$(wrk_run 0 1 -H 'Connection: close')"); O+=("$(oha_run 0 --disable-keepalive "$url")")
  if [ "$r" = 1 ]; then
    best=$(( $(nth "${W[0]}" 1) > $(nth "${O[0]}" 1) ? $(nth "${W[0]}" 1) : $(nth "${O[0]}" 1) ))
    p=$(profile fresh $((best * 13 / 10)) fresh "$CONNS" "$CONNS")
  fi
  S+=("$(st_run 0 "$p" "$work/fresh")")
  echo "  round $r: wrk ${W[-1]} | oha ${O[-1]} | stampede ${S[-1]}" >&2
done
compare "fresh" wrk S W ">= 1.0x" ">= 1.0x"
compare "fresh" oha S O ">= 1.1x" "-"
sp=$(col 3 "${S[@]}"); wp=$(col 3 "${W[@]}")
row "fresh p99 (ms) vs wrk" "$sp" "$wp" "$(ratio "$sp" "$wp")" "<= 2.0x" "stampede's from the intended instant: service p99 $(col 7 "${S[@]}") ms, send lag p99 $(col 8 "${S[@]}") ms; SYNs dropped at a full backlog: st $(col 6 "${S[@]}"), wrk $(col 6 "${W[@]}"), oha $(col 6 "${O[@]}")"

# A stampede run's schedule figures: send lag p50 (us), achieved/planned (%), latency
# p50 (ms), service p50 (ms), send lag p99 (us).
schedule() { # out
  echo "$(field "$1" "round(r['engine']['send_lag_ms']['p50']*1000,1)") $(field "$1" "round(100*r['totals']['attempts']/max(1,r['plan']['planned_first_attempts']),3)") $(field "$1" "r['totals']['latency_ms']['p50']") $(field "$1" "r['totals']['service_ms']['p50']") $(field "$1" "round(r['engine']['send_lag_ms']['p99']*1000,1)")"
}
SECTION="constant 5,000/s"
echo "constant 5,000/s, keep-alive (stampede exact, and with --send-precision 1ms) ..." >&2
O=(); S=(); L=(); C=(); CL=()
# Uniform arrivals, one every 200 µs: the constant rate `oha -q` sends (Poisson gaps
# would be a different schedule from the peer's, and cheaper: the close ones merge).
p=$(profile rate5k 5000 reuse "$CONNS" $((CONNS * 4)) "http://127.0.0.1:$PORT" "" uniform)
for r in $(seq "$ROUNDS"); do
  SECTION="constant 5,000/s"
  O+=("$(oha_run 0 -q 5000 --latency-correction "$url")")
  S+=("$(st_run 0 "$p" "$work/rate5k")")
  L+=("$(schedule "$work/rate5k")")
  SECTION="constant 5,000/s, --send-precision 1ms"
  C+=("$(st_run 0 "$p" "$work/rate5k-1ms" --send-precision 1ms)")
  CL+=("$(schedule "$work/rate5k-1ms")")
  echo "  round $r: oha ${O[-1]} | stampede ${S[-1]} lag-p50-us/achieved%/latency-p50/service-p50/lag-p99-us ${L[-1]} | 1ms ${C[-1]} ${CL[-1]}" >&2
done
sc=$(col 2 "${S[@]}"); oc=$(col 2 "${O[@]}"); cc=$(col 2 "${C[@]}")
row "5,000/s CPU/request (us) vs oha -q 5000" "$sc" "$oc" "$(ratio "$oc" "$sc")" ">= 0.77x" "cost <= 1.3x oha's; st $(load_note "${S[@]}") · oha $(load_note "${O[@]}"); each send at its own instant (its wake-ups: the IPI columns below)"
row "5,000/s CPU/request, --send-precision 1ms" "$cc" "$oc" "$(ratio "$oc" "$cc")" ">= 1.0x" "st $(load_note "${C[@]}"); send lag p50 $(col 1 "${CL[@]}") us, p99 $(col 5 "${CL[@]}") us, latency p50 $(col 3 "${CL[@]}") ms"
sl=$(col 3 "${L[@]}"); ol=$(col 7 "${O[@]}")
row "5,000/s latency p50 (ms) vs oha corrected" "$sl" "$ol" "$(ratio "$sl" "$ol")" "-" "stampede's: service p50 $(col 4 "${L[@]}") ms + send lag p50 $(col 1 "${L[@]}") us"
row "5,000/s send lag p50 (us)" "$(col 1 "${L[@]}")" "-" "-" "< 20" "p99 $(col 5 "${L[@]}") us"
row "5,000/s achieved / planned (%)" "$(col 2 "${L[@]}")" "-" "-" "100 +- 0.1" "with 1ms: $(col 2 "${CL[@]}")"

SECTION="fresh TLS 1.3"
echo "fresh TLS 1.3 handshake per login ..." >&2
O=(); S=()
for r in $(seq "$ROUNDS"); do
  O+=("$(oha_run 0 --disable-keepalive --insecure "$tls_url")")
  if [ "$r" = 1 ]; then
    p=$(profile tls $(( $(nth "${O[0]}" 1) * 13 / 10 )) fresh "$CONNS" "$CONNS" "https://localhost:$TLS_PORT")
  fi
  S+=("$(st_run 0 "$p" "$work/tls")")
  echo "  round $r: oha ${O[-1]} | stampede ${S[-1]}" >&2
done
compare "fresh TLS" oha S O "-" "-"
# The same handshakes at a rate the target keeps up with (half what it served): the
# generators' CPU per login, not two tools waiting on one saturated nginx.
tls_rate=$(( $(col 1 "${O[@]}") / 2 ))
SECTION="fresh TLS 1.3 at ${tls_rate}/s"
echo "fresh TLS 1.3 at a constant ${tls_rate}/s ..." >&2
O=(); S=()
p=$(profile tlsrate "$tls_rate" fresh "$CONNS" "$CONNS" "https://localhost:$TLS_PORT")
for r in $(seq "$ROUNDS"); do
  O+=("$(oha_run 0 --disable-keepalive --insecure -q "$tls_rate" "$tls_url")")
  S+=("$(st_run 0 "$p" "$work/tlsrate")")
  echo "  round $r: oha ${O[-1]} | stampede ${S[-1]}" >&2
done
compare "fresh TLS at ${tls_rate}/s" "oha -q $tls_rate" S O "-" ">= 1.0x"

SECTION="two generator threads"
echo "two generator threads (both cores, the target shares one) ..." >&2
W=(); O=(); S=()
for r in $(seq "$ROUNDS"); do
  W+=("$(wrk_run 0,1 2)"); O+=("$(oha_run 0,1 "$url")")
  if [ "$r" = 1 ]; then
    best=$(( $(nth "${W[0]}" 1) > $(nth "${O[0]}" 1) ? $(nth "${W[0]}" 1) : $(nth "${O[0]}" 1) ))
    p=$(profile t2 $((best * 13 / 10)) reuse "$CONNS" $((CONNS * 4)))
  fi
  S+=("$(st_run 0,1 "$p" "$work/t2" --threads 2)")
  echo "  round $r: wrk ${W[-1]} | oha ${O[-1]} | stampede ${S[-1]}" >&2
done
compare "-t 2 keep-alive" "wrk -t2" S W "-" ">= 1.0x"
compare "-t 2 keep-alive" "oha" S O "-" ">= 1.0x"

SECTION="20,000/s"
echo "schedule fidelity at 20,000/s ..." >&2
p=$(profile fidelity 20000 reuse 256 20000)
F=()
for r in $(seq "$ROUNDS"); do
  timed 0 "$bin" run -q "$p" --out "$work/fidelity" >/dev/null || true
  F+=("$(field "$work/fidelity" "r['engine']['send_lag_ms']['p99']") $(field "$work/fidelity" "round(100*r['totals']['attempts']/max(1,r['plan']['planned_first_attempts']),2)")")
  echo "  round $r: lag-p99-ms/achieved% ${F[-1]}" >&2
done
lags=$(for x in "${F[@]}"; do nth "$x" 1; done | sort -g | xargs)
row "send lag p99 at 20,000/s (ms)" "$(col 1 "${F[@]}")" "-" "-" "< 1" "median of $ROUNDS runs: $lags"
row "achieved / planned at 20,000/s (%)" "$(col 2 "${F[@]}")" "-" "-" "100 +- 1" ""

echo "population scale ..." >&2
for n in 1000000 10000000; do
  cat > "$work/pop$n.yaml" <<YAML
name: pop$n
target: { nodes: ["http://127.0.0.1:$PORT"], timeout: 2s, connection: reuse, max_connections: 64 }
population: { simulate: $n }
time_scale: 60
storm: { waves: [ { share: 100%, spread: "uniform(30m)" } ] }
client: { login: [ { request: GET /login } ], retry: { policy: none } }
observe: { until_recovered: 0s }
YAML
  plan_s=$( { /usr/bin/time -f "%e" "$bin" validate "$work/pop$n.yaml" >/dev/null; } 2>&1 | tail -1)
  row "plan generation for $n clients (s)" "$plan_s" "-" "-" "< 2 (10 M)" ""
  rss=$( { taskset -c 0 /usr/bin/time -f "%M" "$bin" run -q "$work/pop$n.yaml" --out "$work/pop" >/dev/null; } 2>&1 | tail -1)
  row "peak RSS, storm of $n clients (MiB)" "$((rss / 1024))" "-" "-" "< 256 / 1024" ""
done

echo "reference overlay logins/s (healthy, spare capacity) ..." >&2
echo "capacity: 1000000/s" > "$work/overlay.yaml"
taskset -c 1 "$bin" overlay --listen "127.0.0.1:$OVERLAY_PORT" --mode healthy --config "$work/overlay.yaml" --initial-online 100000 >/dev/null &
echo $! > "$work/overlay.pid"
cat > "$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
counter = 0
request = function()
  counter = counter + 1
  return wrk.format(nil, "/login", nil, '{"client": ' .. (counter % 100000) .. '}')
end
LUA
sleep 1
ov_rps=$(taskset -c 0 wrk -t1 -c"$CONNS" -d"${SECS}s" -s "$work/login.lua" "http://127.0.0.1:$OVERLAY_PORT/login" | awk '/Requests\/sec/ {print int($2)}')
row "reference overlay logins/s (wrk as client)" "$ov_rps" "-" "-" ">= 20,000" ""
fi

if part h2; then
. bench/h2.sh
fi

# Connected clients (PARTS=held, not in the default run: it raises kernel limits and
# takes minutes): bench/held.sh's table, stampede beside Tsung and Artillery against
# one WebSocket target: CPU per heartbeat, user-space memory per held client.
if part held; then
  echo "connected clients (bench/held.sh, N=${HELD_N:-15000}) ..." >&2
  N=${HELD_N:-15000} BIG=0 HOLD=${HELD_HOLD:-30} STAMPEDE="$bin" bash bench/held.sh > "$work/held.out" 2>&1 || true
  held_table=$(sed -n '/^figure\|^tool\|^clients/,$p' "$work/held.out")
fi

echo
printf '%-50s %10s %10s %8s  %-15s %s\n' "figure" "stampede" "peer" "ratio" "goal" "notes (cpu tool/target busy)"
printf '%s\n' "${rows[@]}"
splits_table
if [ -n "${held_table:-}" ]; then echo; echo "connected clients (bench/held.sh):"; echo "$held_table"; fi
echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%F), load average before: $LOAD0"
