#!/bin/sh
# make test-files (part of make test-cross): model and IDX files across byte orders, word sizes
# and C libraries. The lab trains 1 epoch on x86-64 (a small made-up data set) and writes
# model.cae; tests/cross_files, built for each platform there is a tool for (x86-64; i386 with
# gcc -m32; s390x, big-endian, under qemu-user; Windows under wine), loads it, runs the first
# test images through it and saves it again (and the lab's checkpoint.cae likewise), makes the lab's model from seed 42 and saves that,
# and parses IDX files of every element type. Then:
#   - every model file saved anywhere is the x86-64 one, byte for byte;
#   - every platform parses the IDX files to the same numbers;
#   - every platform's outputs are the x86-64 ones within 1e-5 (different kernels and libm);
#   - the model the lab wrote under wine (tests/mingw.sh, when it ran) gives those outputs too.
set -u
. tests/need.sh
out=bin/cross
fail=0
echo "== files across platforms: model files, IDX files, outputs (x86-64, i386, s390x, Windows)"
rm -rf "$out"
mkdir -p "$out/data" "$out/idx"
bin/make_data "$out/data" 512 64 || exit 1
if ! bin/mnist_autoencoder --data "$out/data" --epochs 1 --tsne 0 --out "$out/lab" > "$out/lab.log" 2>&1; then
    cat "$out/lab.log"; echo "FAILED: the lab on x86-64"; exit 1
fi

# IDX files of each element type, big-endian as the format says, written byte by byte here
i=$out/idx
printf '\000\000\011\001\000\000\000\002\200\177' > "$i/i8.idx"                                  # -128 127
printf '\000\000\013\001\000\000\000\003\001\002\377\376\177\377' > "$i/i16.idx"                  # 258 -2 32767
printf '\000\000\014\002\000\000\000\001\000\000\000\002\200\000\000\000\022\064\126\170' > "$i/i32.idx" # -2^31 0x12345678
printf '\000\000\015\001\000\000\000\002\077\200\000\000\300\111\017\333' > "$i/f32.idx"          # 1 -pi
printf '\000\000\016\001\000\000\000\002\100\011\041\373\124\104\055\030\277\360\000\000\000\000\000\000' > "$i/f64.idx" # pi -1
gzip -n -c "$i/f64.idx" > "$i/f64.idx.gz"
idx="$i/i8.idx $i/i16.idx $i/i32.idx $i/f32.idx $i/f64.idx $i/f64.idx.gz $out/data/t10k-images-idx3-ubyte $out/data/t10k-labels-idx1-ubyte"
args="$out/lab/model.cae $out/data/t10k-images-idx3-ubyte"

# cross_files for each platform: run PLATFORM RUNNER... (the runner may be empty)
run() {
    p=$1
    shift
    mkdir -p "$out/$p"
    if "$@" $args "$out/$p" $idx > "$out/$p.log" 2>&1; then plats="$plats $p"
    else cat "$out/$p.log"; echo "FAILED: cross_files on $p"; fail=1; fi
}
plats=
flags="-O2 -std=c99 -Wall -Wextra -pedantic -Werror -I. tests/cross_files.c"
if gcc $flags -o "$out/cross_files" -lm; then run x86_64 "$out/cross_files"; else echo "FAILED: build"; exit 1; fi
if gcc -m32 $(m32_include) $flags -o "$out/cross_files_i386" -lm 2>/dev/null; then
    run i386 "$out/cross_files_i386"
else
    missing "gcc -m32 libraries" "lib32gcc-12-dev libc6-dev-i386"
fi
if need s390x-linux-gnu-gcc gcc-s390x-linux-gnu && need qemu-s390x qemu-user; then
    s390x-linux-gnu-gcc $flags -o "$out/cross_files_s390x" -lm && run s390x qemu-s390x -L /usr/s390x-linux-gnu "$out/cross_files_s390x"
fi
WINE=${WINE:-$(command -v wine || command -v wine64 || echo wine)}
if need x86_64-w64-mingw32-gcc gcc-mingw-w64-x86-64 && need "$WINE" "wine wine64"; then
    export WINEPREFIX=${WINEPREFIX:-$PWD/bin/wine} WINEDEBUG=-all
    x86_64-w64-mingw32-gcc -static $flags -o "$out/cross_files.exe" && run windows "$WINE" "$out/cross_files.exe"
fi

# compare: OUT/x86_64 is the reference
ref=$out/x86_64
[ -s "$ref/idx.txt" ] || { echo "FAILED: no x86-64 results"; exit 1; }
cmp "$out/lab/model.cae" "$ref/resaved.cae" || { echo "FAILED: x86-64 saves a loaded model differently"; fail=1; }
cmp "$out/lab/checkpoint.cae" "$ref/resaved.ckpt" || { echo "FAILED: x86-64 saves a loaded checkpoint differently"; fail=1; }
# the IDX values as this machine parsed them, against what the bytes above say
for want in 'i8.idx: type 0x09 dims 2 count 2 .* first -128 last 127' \
            'i16.idx: type 0x0B dims 3 count 3 .* first 258 last 32767' \
            'i32.idx: type 0x0C dims 1 2 count 2 .* first -2147483648 last 305419896' \
            'f32.idx: type 0x0D dims 2 count 2 .* first 1 last -3.1415927410125732' \
            'f64.idx: type 0x0E dims 2 count 2 .* first 3.1415926535897931 last -1' \
            'f64.idx.gz: type 0x0E dims 2 count 2 .* first 3.1415926535897931 last -1'; do
    grep -q "^$want\$" "$ref/idx.txt" || { echo "FAILED: x86-64 parsed an IDX file wrong: want $want"; cat "$ref/idx.txt"; fail=1; }
done
# max |a - b| over two files of one number a line
maxdiff() { awk 'NR == FNR { a[FNR] = $1; n = FNR; next }
                 { d = $1 - a[FNR]; if (d < 0) d = -d; if (d > m) m = d; k = FNR }
                 END { if (k != n || n == 0) { print "lengths " n " " k; exit 1 } printf "%.3g\n", m }' "$1" "$2"; }
within() { awk -v d="$1" 'BEGIN { exit !(d + 0 <= 1e-5) }'; }
for p in $plats; do
    [ $p = x86_64 ] && continue
    for f in resaved.cae seed42.cae resaved.ckpt seed42.ckpt idx.txt; do
        cmp "$ref/$f" "$out/$p/$f" || { echo "FAILED: $p: $f is not the x86-64 one"; fail=1; }
    done
    d=$(maxdiff "$ref/out.txt" "$out/$p/out.txt") && within "$d" ||
        { echo "FAILED: $p: outputs differ from x86-64 by $d (limit 1e-5)"; fail=1; }
    echo "   $p: resaved.cae, seed42.cae, resaved.ckpt, seed42.ckpt, IDX values identical to x86-64; outputs within $d"
done
if [ -s bin/mingw/lab/model.cae ]; then
    mkdir -p "$out/winlab"
    if "$out/cross_files" bin/mingw/lab/model.cae "$out/data/t10k-images-idx3-ubyte" "$out/winlab" > "$out/winlab.log" 2>&1 &&
        cmp bin/mingw/lab/model.cae "$out/winlab/resaved.cae"; then
        # the same lab on the same data under Linux: bin/mingw/data is made as the Linux run's is
        mkdir -p "$out/linlab"
        bin/mnist_autoencoder --data bin/mingw/data --epochs 1 --tsne 0 --out "$out/linlab/lab" > "$out/linlab.log" 2>&1 &&
            "$out/cross_files" "$out/linlab/lab/model.cae" "$out/data/t10k-images-idx3-ubyte" "$out/linlab" > /dev/null 2>&1
        d=$(maxdiff "$out/linlab/out.txt" "$out/winlab/out.txt") && within "$d" ||
            { echo "FAILED: the lab's model trained under wine gives outputs $d from the Linux lab's (limit 1e-5)"; fail=1; }
        echo "   the lab's model.cae written under wine loads here; its outputs are the Linux lab's within $d" \
             "($(cmp -l bin/mingw/lab/model.cae "$out/linlab/lab/model.cae" | wc -l) bytes differ: msvcrt's expf is not glibc's)"
    else
        cat "$out/winlab.log"; echo "FAILED: the model the lab wrote under wine does not load here or saves differently"; fail=1
    fi
fi

if [ $fail -ne 0 ]; then echo "CROSS-PLATFORM FILE CHECKS FAILED"; exit 1; fi
echo "model files, checkpoints and IDX files: the same on every platform tested ($plats )"
