# The HTTP/2 rows of bench/compare.sh, sourced by it (its rig, its functions, its
# table): `PARTS=h2 bench/compare.sh` runs only these.
#
# A second nginx (the same pinning and settings as the HTTP/1.1 one) serves h2c and
# TLS 1.3 with ALPN h2. The peers are h2load (Debian nghttp2-client) and `oha --http2`;
# stampede runs the same loads with `target.http: 2` when this binary speaks HTTP/2
# (`stampede validate` on such a profile tells), and otherwise the rows are the peers'.
#
# The settings keep the same work in flight for every tool:
# - keep-alive: CONNS (64) connections with one stream in flight on each (h2load -c64
#   -m1; oha -c64 -p1; stampede `connection: reuse`, max_connections 64): a population
#   of clients, one connection each;
# - multiplexed: 8 connections with 8 streams each (h2load -c8 -m8; oha -c8 -p8;
#   stampede max_connections 8, max_in_flight 64);
# - new TLS connections with ALPN h2, one request each: h2load's rate mode opens
#   connections at a fixed rate (H2_TLS_RATE, 3,000/s by default, for SECS, at most
#   15,000 of them), each with one request (-n = -c), and what it achieves is its
#   figure; stampede (`connection: fresh`) offers 1.3x that. `oha --http2
#   --disable-keepalive` is run too, but keeps its HTTP/2 connections alive (64
#   connections for thousands of requests, as nginx's own count shows), so it has no
#   new-connection figure.
# nginx counts the connections it accepts (stub_status): each run's count is printed,
# so a tool that does not open the connections it says it does is seen.
# Goals (issue #25): keep-alive streams/s at least oha's; CPU per request at most 1.2x
# h2load's (the peer/stampede ratio at least 0.83x); new TLS connections at least oha's
# rate, where oha has one.

h2_node="http://127.0.0.1:$H2_PORT"
h2_tls_node="https://localhost:$H2_TLS_PORT"
nginx_start "$work/nginx-h2" "$(nginx_h2_listen "127.0.0.1:$H2_PORT backlog=16384" "127.0.0.1:$H2_TLS_PORT ssl backlog=16384")
    ssl_certificate $work/cert.pem;
    ssl_certificate_key $work/key.pem;
    ssl_protocols TLSv1.3;
    ssl_session_tickets off;
    ssl_session_cache off;
    location = /nginx_status { stub_status; }
    location / { default_type application/json; return 200 '{\"access_token\":\"t\"}'; }"

# "requests/s cpu-us-per-request 0 tool-busy% target-busy% listen-overflows" (h2load
# prints no latency percentiles).
h2load_run() { # cpus url [h2load args]
  local cpus=$1 u=$2; shift 2
  local out; out=$(timed "$cpus" h2load -t1 "$@" "$u" 2>&1)
  local rps n
  rps=$(echo "$out" | awk '/^finished in/ {print int($4)}')
  n=$(echo "$out" | awk '/^requests:/ {print $8}')
  echo "${rps:-0} $(cpu_per "${n:-0}") 0 $(cat "$work/busy")"
}
# Connections nginx accepted so far (this request's own included).
accepts() { curl -s --http2-prior-knowledge "$h2_node/nginx_status" | awk 'NR == 3 {print $1}'; }
# Runs a *_run command; leaves in $work/conns the connections nginx accepted meanwhile.
conns_of() {
  local a; a=$(accepts)
  "$@"
  echo $(( $(accepts) - a - 1 )) > "$work/conns"
}
# oha with another connection count than CONNS.
oha_with() { # conns [oha args]
  local CONNS=$1; shift
  oha_run 0 "$@"
}

st_h2=""
if "$bin" validate "$(profile h2probe 10 reuse 1 1 "$h2_node" 2)" >/dev/null 2>&1; then
  st_h2=1
else
  echo "stampede: no HTTP/2 in this build (the HTTP/2 rows are the peers' only)" >&2
fi

# One HTTP/2 comparison: stampede against a peer when this build speaks HTTP/2, else
# the peer's figures alone.
h2_compare() { # label peer-name peer-lines-var rate-goal cpu-goal
  local -n peer=$3
  if [ -n "$st_h2" ]; then
    UNIT=${UNIT:-streams} compare "$1" "$2" S "$3" "$4" "$5"
  else
    row "$1 streams/s: $2" "-" "$(col 1 "${peer[@]}")" "-" "$4" "$2 $(load_note "${peer[@]}"); no HTTP/2 in this stampede"
    row "$1 CPU/request (us): $2" "-" "$(col 2 "${peer[@]}")" "-" "$5" ""
  fi
}

# stampede's last result line, or "none".
st_last() { if ((${#S[@]})); then echo "${S[-1]}"; else echo none; fi; }
# Runs stampede on profile `p` when it speaks HTTP/2.
st_h2_run() { # out
  if [ -n "$st_h2" ]; then S+=("$(st_run 0 "$p" "$work/$1")"); fi
}

for mode in h2c tls; do
  node=$h2_node
  [ "$mode" = tls ] && node=$h2_tls_node
  SECTION="HTTP/2 $mode keep-alive"
  echo "HTTP/2 keep-alive over $mode, $CONNS connections x 1 stream, ${SECS}s each, $ROUNDS rounds ..." >&2
  H=(); O=(); S=()
  for r in $(seq "$ROUNDS"); do
    H+=("$(conns_of h2load_run 0 "$node/login" -c"$CONNS" -m1 -D "$SECS")"); hc=$(cat "$work/conns")
    O+=("$(conns_of oha_run 0 --http2 -p 1 --insecure "$node/login")"); oc=$(cat "$work/conns")
    if [ "$r" = 1 ]; then
      best=$(( $(nth "${H[0]}" 1) > $(nth "${O[0]}" 1) ? $(nth "${H[0]}" 1) : $(nth "${O[0]}" 1) ))
      p=$(profile "h2ka$mode" $((best * 13 / 10)) reuse "$CONNS" $((CONNS * 4)) "$node" 2)
    fi
    st_h2_run "h2ka$mode"
    echo "  round $r: h2load ${H[-1]} ($hc conns) | oha ${O[-1]} ($oc conns) | stampede $(st_last)" >&2
  done
  h2_compare "HTTP/2 $mode keep-alive" h2load H "-" ">= 0.83x"
  h2_compare "HTTP/2 $mode keep-alive" "oha --http2" O ">= 1.0x" "-"
done

SECTION="HTTP/2 h2c 8x8"
echo "HTTP/2 h2c multiplexed, 8 connections x 8 streams ..." >&2
H=(); O=(); S=()
for r in $(seq "$ROUNDS"); do
  H+=("$(h2load_run 0 "$h2_node/login" -c8 -m8 -D "$SECS")")
  O+=("$(oha_with 8 --http2 -p 8 "$h2_node/login")")
  if [ "$r" = 1 ]; then
    best=$(( $(nth "${H[0]}" 1) > $(nth "${O[0]}" 1) ? $(nth "${H[0]}" 1) : $(nth "${O[0]}" 1) ))
    p=$(profile h2mux $((best * 13 / 10)) reuse 8 64 "$h2_node" 2)
  fi
  st_h2_run h2mux
  echo "  round $r: h2load ${H[-1]} | oha ${O[-1]} | stampede $(st_last)" >&2
done
h2_compare "HTTP/2 h2c 8x8 multiplexed" h2load H "-" ">= 0.83x"
h2_compare "HTTP/2 h2c 8x8 multiplexed" "oha --http2" O "-" "-"

H2_TLS_RATE=${H2_TLS_RATE:-3000}
n=$(( H2_TLS_RATE * SECS < 15000 ? H2_TLS_RATE * SECS : 15000 ))
SECTION="HTTP/2 new TLS connections"
echo "HTTP/2 new TLS connection (ALPN h2) per request, h2load at ${H2_TLS_RATE}/s ..." >&2
H=(); O=(); S=()
for r in $(seq "$ROUNDS"); do
  H+=("$(conns_of h2load_run 0 "$h2_tls_node/login" -c"$n" -n"$n" -m1 -r $(( (H2_TLS_RATE + 9) / 10 )) --rate-period 100ms)")
  hc=$(cat "$work/conns")
  O+=("$(conns_of oha_run 0 --http2 --disable-keepalive --insecure "$h2_tls_node/login")"); oc=$(cat "$work/conns")
  if [ "$r" = 1 ]; then
    p=$(profile h2tls $(( $(nth "${H[0]}" 1) * 13 / 10 + 10 )) fresh "$CONNS" "$CONNS" "$h2_tls_node" 2)
  fi
  st_h2_run h2tls
  echo "  round $r: h2load ${H[-1]} ($hc conns) | oha ${O[-1]} ($oc conns) | stampede $(st_last)" >&2
done
UNIT=connections h2_compare "HTTP/2 new TLS+h2 connections" "h2load -r" H "-" "-"
row "HTTP/2 new TLS+h2 connections: oha --http2" "-" "-" "-" ">= 1.0x" "oha --disable-keepalive opened $oc connections for $(nth "${O[-1]}" 1)/s over ${SECS}s: HTTP/2 kept alive, no figure"
