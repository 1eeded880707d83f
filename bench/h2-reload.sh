#!/usr/bin/env bash
# The HTTP/2 drain end to end (issue #25): nginx serves h2c, stampede holds 2,000 client
# connections to it (profiles/examples/nginx-h2-reload.yaml), and at the trigger (10 s
# in) the profile's action runs `nginx -s reload`, which sends a GOAWAY to every one of
# them. The report (reports/h2-reload/ by default) shows the drops at that instant and
# the reconnect wave after it.
#
#   bench/h2-reload.sh
#   PORT=18090 OUT=/tmp/r bench/h2-reload.sh
#
# Needs a stampede that speaks HTTP/2 (`target.http: 2`); another one says so and exits 3.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18082}
OUT=${OUT:-reports/h2-reload}
BIN=${STAMPEDE:-target/release/stampede}
profile=profiles/examples/nginx-h2-reload.yaml
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT

command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] ||
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; }
export PATH="$PATH:/usr/sbin"
[ -n "${STAMPEDE:-}" ] || cargo build --release -q --bin stampede

export NGINX_H2C_PORT=$PORT NGINX_PREFIX=$work/nginx
if ! "$BIN" validate "$profile" >/dev/null 2>"$work/validate.err"; then
  if grep -q "target.http: unknown field" "$work/validate.err"; then
    echo "stampede: no HTTP/2 in this build ($BIN does not know target.http)"
    exit 3
  fi
  cat "$work/validate.err" >&2
  exit 2
fi

. bench/nginx.sh
nginx_start "$work/nginx" "$(nginx_h2_listen "127.0.0.1:$PORT backlog=16384")
    location / { default_type application/json; return 200 '{\"access_token\":\"t\"}'; }"
status=0
"$BIN" run "$profile" --allow-actions --out "$OUT" || status=$?
# Every non-zero figure in report.json whose name mentions a GOAWAY, by window.
python3 - "$OUT/report.json" <<'PY'
import json, sys
def walk(v, path):
    if isinstance(v, dict):
        for k, x in v.items():
            yield from walk(x, f"{path}.{k}")
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield from walk(x, f"{path}[{i}]")
    elif "goaway" in path.lower() and isinstance(v, (int, float)) and v:
        yield path, v
found = list(walk(json.load(open(sys.argv[1])), "report"))
for path, v in found:
    print(f"  {path} = {v}")
if not found:
    print("  no GOAWAY figure in the report: did the reload reach the connections?")
r = json.load(open(sys.argv[1]))
for a in r.get("actions", []):
    print(f"  action {a['command']}: {a['outcome']} at {a.get('started_ms')} ms")
PY
echo "run exit code: $status; report in $OUT/"
exit "$status"
