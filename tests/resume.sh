#!/bin/sh
# Checkpoints: a lab run killed with SIGKILL (twice, at moments the clock picks) and resumed,
# or stopped with Ctrl-C and resumed, ends with the same model.cae bytes and history.csv loss
# digits as a run that never stopped; a resume with other settings, with no checkpoint or with
# a damaged one is a clear error. On a small made-up data set (bin/make_data).
# usage: tests/resume.sh LAB MAKE_DATA
set -u
lab=$1 make_data=$2
tmp=$(mktemp -d)
fail=0
mkdir -p "$tmp/data"
"$make_data" "$tmp/data" 3000 300 || exit 1
flags="--data $tmp/data --epochs 3 --tsne 0 --checkpoint-every 2"
losses() { cut -d, -f1-3 "$1"; } # epoch, loss, val_loss: the columns that do not hold timings

# shellcheck disable=SC2086
"$lab" $flags --out "$tmp/ref" > "$tmp/ref.log" 2>&1 || { cat "$tmp/ref.log"; echo "FAILED: reference run"; exit 1; }

# start a run (or a resumed one) and SIGKILL it once it has written a checkpoint, a moment later
kill_once() {
    # shellcheck disable=SC2086
    "$lab" $flags --out "$tmp/k" "$@" > "$tmp/k.log" 2>&1 &
    pid=$!
    n=0
    while [ ! -f "$tmp/k/checkpoint.cae" ] || [ "$(wc -c < "$tmp/k/checkpoint.cae")" -lt 1000 ] ||
          [ "$n" -lt "$wait_ticks" ]; do
        sleep 0.05
        n=$((n + 1))
        kill -0 "$pid" 2>/dev/null || break
    done
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ -f "$tmp/k/model.cae" ]; then
        echo "FAILED: the run ended before the kill (make the data larger)"; fail=1
    fi
    echo "$(grep -c '^Epoch' "$tmp/k.log") epochs finished in that leg"
}
rm -rf "$tmp/k"
wait_ticks=3
echo "   SIGKILL 1: $(kill_once)"
wait_ticks=8
echo "   SIGKILL 2, of the resumed run: $(kill_once --resume)"
# the last leg on one thread: the thread count must not change a bit
# shellcheck disable=SC2086
"$lab" $flags --out "$tmp/k" --resume --threads 1 > "$tmp/k.log" 2>&1 ||
    { cat "$tmp/k.log"; echo "FAILED: the resumed run"; fail=1; }
grep -q '^resumed from' "$tmp/k.log" || { echo "FAILED: the last leg did not say it resumed"; fail=1; }
if cmp "$tmp/ref/model.cae" "$tmp/k/model.cae" && [ "$(losses "$tmp/ref/history.csv")" = "$(losses "$tmp/k/history.csv")" ]; then
    echo "   killed twice and resumed: model.cae identical, history.csv losses identical"
else
    losses "$tmp/ref/history.csv"; losses "$tmp/k/history.csv"; echo "FAILED: the resumed run differs"; fail=1
fi

# Ctrl-C: the batch is finished, a checkpoint written, a message says how to go on, exit non-zero
rm -rf "$tmp/c"
# shellcheck disable=SC2086
"$lab" $flags --out "$tmp/c" > "$tmp/c.log" 2>&1 &
pid=$!
while [ ! -f "$tmp/c/checkpoint.cae" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
sleep 0.3
kill -INT "$pid"
if wait "$pid"; then echo "FAILED: the run stopped by SIGINT exited 0"; fail=1; fi
if grep -q 'with --resume' "$tmp/c.log"; then
    echo "   SIGINT: $(grep 'stopped by' "$tmp/c.log")"
else
    tail -3 "$tmp/c.log"; echo "FAILED: no resume message after SIGINT"; fail=1
fi
# shellcheck disable=SC2086
"$lab" $flags --out "$tmp/c" --resume > "$tmp/c.log" 2>&1 && cmp "$tmp/ref/model.cae" "$tmp/c/model.cae" ||
    { tail -3 "$tmp/c.log"; echo "FAILED: resumed after SIGINT differs"; fail=1; }

# settings that must match, no checkpoint, a damaged one: a message and a non-zero exit
expect_error() { # what, pattern, flags...
    what=$1 pat=$2
    shift 2
    if "$lab" "$@" > "$tmp/e.log" 2>&1; then
        echo "FAILED: $what exited 0"; fail=1
    elif ! grep -q "$pat" "$tmp/e.log"; then
        cat "$tmp/e.log"; echo "FAILED: $what: no message matching '$pat'"; fail=1
    else
        echo "   $what: $(grep -m1 'error' "$tmp/e.log")"
    fi
}
# shellcheck disable=SC2086
expect_error "--resume with another --batch" "another --batch" $flags --out "$tmp/k" --resume --batch 128
# shellcheck disable=SC2086
expect_error "--resume with another --seed" "another --seed" $flags --out "$tmp/k" --resume --seed 7
# shellcheck disable=SC2086
expect_error "--resume with nothing to resume" "no run to resume" $flags --out "$tmp/none" --resume
cp "$tmp/k/checkpoint.cae" "$tmp/good.cae"
head -c 100000 "$tmp/good.cae" > "$tmp/k/checkpoint.cae"
# shellcheck disable=SC2086
expect_error "--resume from a truncated checkpoint" "CRC-32 mismatch\|bytes" $flags --out "$tmp/k" --resume
printf 'X' | dd of="$tmp/k/checkpoint.cae" bs=1 seek=5000 conv=notrunc 2>/dev/null
cp "$tmp/good.cae" "$tmp/k/checkpoint.cae"
printf 'X' | dd of="$tmp/k/checkpoint.cae" bs=1 seek=500000 conv=notrunc 2>/dev/null
# shellcheck disable=SC2086
expect_error "--resume from a checkpoint with one byte changed" "CRC-32 mismatch" $flags --out "$tmp/k" --resume
expect_error "--load of a checkpoint instead of a model" "not a convae model file" --data "$tmp/data" --epochs 0 \
    --tsne 0 --load "$tmp/good.cae" --out "$tmp/l"

# --load FILE --epochs 0: no training, the report from the saved model, whose outputs it reproduces
"$lab" --data "$tmp/data" --epochs 0 --tsne 50 --load "$tmp/ref/model.cae" --out "$tmp/l" > "$tmp/l.log" 2>&1 &&
    cmp "$tmp/ref/model.cae" "$tmp/l/model.cae" && [ -s "$tmp/l/report.html" ] && [ -s "$tmp/l/reconstructions.npy" ] &&
    grep "^MSE" "$tmp/l.log" > "$tmp/l.mse" && grep "^MSE" "$tmp/ref.log" | cmp -s - "$tmp/l.mse" ||
    { tail -5 "$tmp/l.log"; echo "FAILED: --load --epochs 0"; fail=1; }
[ $fail = 0 ] && echo "   --load model.cae --epochs 0: the same test MSE line as the run that trained it: $(cat "$tmp/l.mse")"
rm -rf "$tmp"
exit $fail
