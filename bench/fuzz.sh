#!/usr/bin/env bash
# Fuzzes what reaches stampede from outside (issues #10, #23), in release, FUZZ_CASES
# cases per family (default 100,000):
#   1. hostile variants of profiles/*.yaml through run::parse and Plan::new in-process
#      (tests/fuzz.rs, `fuzz_long`);
#   2. hostile values of each other input family (tests/fuzz_inputs.rs,
#      `fuzz_inputs_long`): the flags `--start-at`, `--abort-when` and `--gate`; data
#      files through the profile load; report.json inputs through `report`, `compare`
#      and `merge`;
#   3. hostile answers to capture from and take cookies from (`hostile_answers_long`):
#      every answer served is a case, in storms of FUZZ_ANSWER_CLIENTS (5,000) clients;
#   4. FUZZ_VALIDATE_SAMPLE (300) of the valid profiles through the real `stampede
#      validate`, FUZZ_RUN_SAMPLE (20) short ones against the embedded overlay through
#      the real `stampede run`, stopped by SIGINT after FUZZ_RUN_SECS (10) s.
# Each case runs on its own thread under a 5 s limit; a case over it is waited for,
# then re-run once alone, and only a second attempt over the limit is a hang (the
# `re-run` column counts those that passed alone: a busy machine, not a slow path).
# Ends with one table: per family, cases, accepted, refused (with a place), unplaced,
# panics, hangs, re-run. FUZZ_SEED (10 for profiles, 23 for the rest when unset)
# picks the cases; FUZZ_DIR keeps the samples (default: a temporary directory).
# FUZZ_INPUT_CASES and FUZZ_ANSWER_CASES override FUZZ_CASES for their families.
# Exits non-zero if any case panicked, hung or went unplaced, or the binary panicked.
#
#   bench/fuzz.sh                        # 100,000 per family
#   FUZZ_CASES=2000 bench/fuzz.sh        # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."

export FUZZ_CASES="${FUZZ_CASES:-100000}"
export FUZZ_VALIDATE_SAMPLE="${FUZZ_VALIDATE_SAMPLE:-300}" FUZZ_RUN_SAMPLE="${FUZZ_RUN_SAMPLE:-20}"
RUN_SECS="${FUZZ_RUN_SECS:-10}"
export FUZZ_DIR="${FUZZ_DIR:-$(mktemp -d /tmp/stampede-fuzz.XXXXXX)}"
export FUZZ_INPUT_CASES="${FUZZ_INPUT_CASES:-$FUZZ_CASES}" FUZZ_ANSWER_CASES="${FUZZ_ANSWER_CASES:-$FUZZ_CASES}"
export FUZZ_ANSWER_CLIENTS="${FUZZ_ANSWER_CLIENTS:-5000}"
mkdir -p "$FUZZ_DIR"
log="$FUZZ_DIR/fuzz.log"
: > "$log"
echo "fuzz: $FUZZ_CASES profiles, $FUZZ_INPUT_CASES of each input, $FUZZ_ANSWER_CASES answers; samples and log in $FUZZ_DIR"

status=0
started=$SECONDS
cargo test --release --quiet --test fuzz -- --ignored --exact fuzz_long --nocapture 2>&1 | tee -a "$log" || status=1
# The input families draw with their own default seed unless one was given.
FUZZ_SEED="${FUZZ_SEED:-23}" cargo test --release --quiet --test fuzz_inputs -- --ignored --exact fuzz_inputs_long --nocapture 2>&1 | tee -a "$log" || status=1
FUZZ_SEED="${FUZZ_SEED:-23}" cargo test --release --quiet --test fuzz_inputs -- --ignored --exact hostile_answers_long --nocapture 2>&1 | tee -a "$log" || status=1
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
echo
echo "fuzz, per family ($(( (SECONDS - started) / 60 )) min in all):"
grep -m1 '^  family ' "$log" || true
grep -E '^  (profiles|flags|data|reports|answers) ' "$log" | awk '!seen[$0]++' || true
exit "$status"
