#!/usr/bin/env bash
# `stampede merge`'s peak memory against the size of its shards (issue #23): two shard
# reports of a short run are stretched to N windows each (their windows repeated,
# indices and the plan's end made to agree), then merged by the release binary under
# /usr/bin/time, for each N in SIZES. Prints, per size, the shards' size, the peak RSS
# and the RSS per window of the run; then the slope between the smallest and the largest
# size (memory per added window: what the merged report holds) and the part that does
# not grow with the windows.
#
#   bench/merge-rss.sh                    # 2 x 20,000 and 2 x 100,000 windows
#   SIZES="1000 100000" bench/merge-rss.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-${WINDOWS:-20000 100000}}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }
cargo build --release -q --bin stampede
bin=target/release/stampede

cat > "$work/p.yaml" <<YAML
name: merge-rss
seed: 3
target: { overlay: embedded, timeout: 1s }
population: { simulate: 200 }
baseline: { duration: 2s, rate: 50/s }
storm: { waves: [ { share: 100%, spread: "uniform(1s)" } ] }
client:
  login:
    - { name: auth, request: POST /login, body: '{"client": {{client}}}' }
    - { name: join, request: POST /join, body: '{"client": {{client}}}' }
observe: { window: 250ms, until_recovered: 1s }
YAML
for i in 1 2; do
  "$bin" run -q "$work/p.yaml" --shard "$i/2" --out "$work/shards/s$i" > /dev/null || true
done
stretch() { # shards directory, windows: rewrites each shard to that many windows
python3 - "$1" "$2" <<'PY'
import json, sys, os
root, n = sys.argv[1], int(sys.argv[2])
for s in sorted(os.listdir(root)):
    path = os.path.join(root, s, "report.json")
    r = json.load(open(path))
    ws = [w for w in r["windows"] if w["attempts"] > 0] or r["windows"]
    out = []
    for i in range(n):
        w = dict(ws[i % len(ws)])
        w["index"] = i
        w["start_ms"] = i * r["plan"]["window_ms"]
        out.append(w)
    r["windows"] = out
    r["plan"]["ended_ms"] = n * r["plan"]["window_ms"]
    r["plan"]["end_ms"] = n * r["plan"]["window_ms"]
    r["start"] = None
    json.dump(r, open(path, "w"))
PY
}

points=()
for n in $SIZES; do
  rm -rf "$work/stretched" "$work/merged"
  cp -r "$work/shards" "$work/stretched"
  stretch "$work/stretched" "$n"
  size=$(du -cb "$work"/stretched/s*/report.json | tail -1 | cut -f1)
  /usr/bin/time -f "%M %e" -o "$work/time" "$bin" merge "$work/stretched" -o "$work/merged" > /dev/null 2> "$work/err" || {
    code=$?; [ "$code" = 1 ] || { cat "$work/err"; exit "$code"; }
  }
  read -r kib secs < "$work/time"
  points+=("$n $kib")
  python3 - "$n" "$size" "$kib" "$secs" <<'PY'
import sys
n, size, kib, secs = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
print(f"merge of 2 shards x {n:,} windows ({size/2**20:.0f} MiB of report.json): peak RSS {kib/1024:.0f} MiB in {secs:.1f}s, {kib*1024/n:,.0f} bytes per window")
PY
done
if [ "${#points[@]}" -ge 2 ]; then
  python3 - "${points[0]}" "${points[-1]}" <<'PY'
import sys
(n0, k0), (n1, k1) = (map(int, a.split()) for a in sys.argv[1:3])
slope = (k1 - k0) * 1024 / (n1 - n0)
print(f"per window of the run: {slope:,.0f} bytes; fixed: {(k0 * 1024 - slope * n0) / 2**20:.0f} MiB")
PY
fi
