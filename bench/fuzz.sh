#!/usr/bin/env bash
# Fuzzes the profile loader and the plan (issue #10), in release:
#   1. FUZZ_CASES (default 100000) hostile variants of profiles/*.yaml through
#      run::parse and Plan::new in-process (tests/fuzz.rs, `fuzz_long`): a table of
#      outcomes (valid / refused with place / refused without place / panic / hang);
#   2. FUZZ_VALIDATE_SAMPLE (300) of the valid ones through the real `stampede validate`;
#   3. FUZZ_RUN_SAMPLE (20) short valid ones against the embedded overlay through the real
#      `stampede run`, stopped by SIGINT after FUZZ_RUN_SECS (10) s: a table of exit codes.
#   4. FUZZ_INPUT_CASES (default 20000) hostile values of each other input family
#      (tests/fuzz_inputs.rs, `fuzz_inputs_long`): the flags `--start-at`, `--abort-when`
#      and `--gate`; data files through the profile load; report.json inputs through
#      `report`, `compare` and `merge`; a table of outcomes per family;
#   5. FUZZ_ANSWER_CLIENTS (5000) clients of a capture-and-cookie flow against a server
#      whose every answer is hostile (`hostile_answers_long`): answers served, the run
#      classifies every attempt.
# FUZZ_SEED (10) picks the cases; FUZZ_DIR keeps them (default: a temporary directory).
# Exits non-zero if any case panicked, hung or went unplaced, or the binary panicked.
set -euo pipefail
cd "$(dirname "$0")/.."

export FUZZ_CASES="${FUZZ_CASES:-100000}" FUZZ_SEED="${FUZZ_SEED:-10}"
export FUZZ_VALIDATE_SAMPLE="${FUZZ_VALIDATE_SAMPLE:-300}" FUZZ_RUN_SAMPLE="${FUZZ_RUN_SAMPLE:-20}"
RUN_SECS="${FUZZ_RUN_SECS:-10}"
export FUZZ_DIR="${FUZZ_DIR:-$(mktemp -d /tmp/stampede-fuzz.XXXXXX)}"
mkdir -p "$FUZZ_DIR"
echo "fuzz: seed $FUZZ_SEED, $FUZZ_CASES cases, samples in $FUZZ_DIR"

export FUZZ_INPUT_CASES="${FUZZ_INPUT_CASES:-20000}" FUZZ_ANSWER_CLIENTS="${FUZZ_ANSWER_CLIENTS:-5000}"

status=0
cargo test --release --quiet --test fuzz -- --ignored --exact fuzz_long --nocapture || status=1
echo "fuzz: other inputs, $FUZZ_INPUT_CASES cases per family"
cargo test --release --quiet --test fuzz_inputs -- --ignored --exact fuzz_inputs_long --nocapture || status=1
cargo test --release --quiet --test fuzz_inputs -- --ignored --exact hostile_answers_long --nocapture || status=1
cargo build --release --quiet --bin stampede
bin="$PWD/target/release/stampede"

# code → meaning, as the README's exit codes give them (124/137: the cap's SIGKILL,
# 101: a panic).
meaning() {
    case "$1" in
        0) echo "ok" ;;
        1) echo "a threshold failed" ;;
        2) echo "bad input" ;;
        3) echo "could not proceed / interrupted" ;;
        101) echo "PANIC" ;;
        124 | 137) echo "HANG (killed)" ;;
        *) echo "other" ;;
    esac
}

table() { # title, then codes on stdin
    echo "$1"
    printf '  %-6s %-34s %6s\n' code meaning cases
    sort -n | uniq -c | while read -r n code; do
        printf '  %-6s %-34s %6s\n' "$code" "$(meaning "$code")" "$n"
    done
}

codes="$FUZZ_DIR/validate-codes"
: > "$codes"
for f in "$FUZZ_DIR"/validate-*.yaml; do
    [ -e "$f" ] || continue
    rc=0
    timeout -k 5 30 "$bin" validate "$f" > /dev/null 2> "$f.err" || rc=$?
    echo "$rc" >> "$codes"
    [ "$rc" = 0 ] || echo "  validate $f: exit $rc: $(head -c 300 "$f.err")"
done
table "stampede validate on $(wc -l < "$codes") valid cases (every one should exit 0):" < "$codes"
grep -qvx 0 "$codes" && status=1

codes="$FUZZ_DIR/run-codes"
: > "$codes"
for f in "$FUZZ_DIR"/run-*.yaml; do
    [ -e "$f" ] || continue
    rc=0
    # SIGINT is the cap: the run stops sending, writes its report and exits 3.
    timeout --preserve-status -s INT -k 30 "$RUN_SECS" \
        "$bin" run "$f" -q --out "$FUZZ_DIR/out-$(basename "$f" .yaml)" > /dev/null 2> "$f.err" || rc=$?
    echo "$rc" >> "$codes"
done
table "stampede run on $(wc -l < "$codes") valid cases, embedded overlay, SIGINT after ${RUN_SECS}s:" < "$codes"
grep -Eqx '101|124|137' "$codes" && status=1
exit "$status"
