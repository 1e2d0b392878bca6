#!/bin/sh
# Runs libFuzzer harnesses: first each one over its regression inputs (tests/regress/NAME/*,
# once each), then all of them at once, each for SECONDS, on CORPUS/NAME (where new inputs go,
# kept from run to run), SEEDS/NAME and tests/regress/NAME, and prints each one's run count.
# A crash, leak or slow input is saved beside the harness as NAME-crash-..., NAME-leak-... or
# NAME-timeout-...: once it is fixed, copy it into tests/regress/NAME/, so that every later run
# replays it (make sanitize too).
#
# usage: tests/fuzz_run.sh SECONDS SEEDS CORPUS HARNESS...     (paths without spaces)
set -u
secs=${1:?usage: tests/fuzz_run.sh SECONDS SEEDS CORPUS HARNESS...}
seeds=$2 corpus=$3
shift 3
harnesses=$*
fail=0 pids=

for h in $harnesses; do
    n=${h##*/}
    set -- tests/regress/"$n"/*
    [ -f "$1" ] || continue
    if "$h" -artifact_prefix="$h-" "$@" > "$h.replay.log" 2>&1; then
        echo "$n: $# regression inputs replayed"
    else
        tail -n 40 "$h.replay.log"
        echo "FAILED: $n on its regression inputs (tests/regress/$n)"
        fail=1
    fi
done

echo "fuzzing $(echo $harnesses | wc -w) harnesses at once, $secs s each"
for h in $harnesses; do
    n=${h##*/}
    mkdir -p "$corpus/$n"
    more=
    [ -d "$seeds/$n" ] && more=$seeds/$n
    [ -d "tests/regress/$n" ] && more="$more tests/regress/$n"
    # -timeout: an input that takes 10 s is a bug, not a slow machine
    "$h" -max_total_time="$secs" -timeout=10 -print_final_stats=1 -artifact_prefix="$h-" \
        "$corpus/$n" $more > "$h.log" 2>&1 &
    pids="$pids $!"
done
for h in $harnesses; do
    p=${pids# }
    p=${p%% *}
    pids=${pids# $p}
    n=${h##*/}
    if wait "$p"; then
        done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$h.log" | tail -n 1)
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$h.log")
        echo "$n: $runs runs, corpus $(ls "$corpus/$n" | wc -l) files; $done_line"
    else
        tail -n 60 "$h.log"
        echo "FAILED: $n (log: $h.log; the input that failed: $h-*)"
        fail=1
    fi
done
[ $fail -eq 0 ]
