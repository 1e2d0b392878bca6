#!/bin/sh
# make test-mingw (part of make test-cross): the test programs and the lab built for 64-bit
# Windows with mingw-w64, static (no DLLs to ship), and run under wine: LLP64 (32-bit long),
# msvcrt's stdio and libm, Windows paths and file modes. OpenMP where libgomp links statically.
# The lab trains 1 epoch on a small made-up data set. The wine prefix lives in bin/wine (the
# first start makes it, ~30 s); WINEPREFIX overrides that.
set -u
. tests/need.sh
CC_WIN=${CC_WIN:-x86_64-w64-mingw32-gcc}
out=bin/mingw
fail=0
echo "== Windows x86-64: the test programs and the lab built with $CC_WIN -static, run under wine"
need "$CC_WIN" gcc-mingw-w64-x86-64 || exit 0
WINE=${WINE:-$(command -v wine || command -v wine64 || echo wine)}
need "$WINE" "wine wine64" || exit 0
export WINEPREFIX=${WINEPREFIX:-$PWD/bin/wine} WINEDEBUG=-all
unset TMPDIR # a Unix TMPDIR would reach the programs, where /tmp is not a Windows folder
mkdir -p "$out"
rm -rf "$out/data" "$out/lab"
echo "   $("$WINE" --version 2>/dev/null)"

# -fopenmp only where libgomp links in statically: nothing but system DLLs in the imports
printf '#include <omp.h>\n#include <stdio.h>\nint main(void){printf("%%d\\n", omp_get_max_threads()); return 0;}\n' > "$out/probe.c"
omp=
if "$CC_WIN" -static -fopenmp "$out/probe.c" -o "$out/probe.exe" 2>/dev/null; then
    dlls=$(x86_64-w64-mingw32-objdump -p "$out/probe.exe" 2>/dev/null | sed -n 's/.*DLL Name: //p' | tr '\n' ' ')
    case "$dlls" in *gomp* | *pthread* | *gcc_s*) echo "   (libgomp is a DLL here: without OpenMP)" ;; *) omp=-fopenmp ;; esac
fi
for f in $(ls examples/*.c tools/*.c tests/*.c | grep -v embedded_infer); do # embedded_infer: make mcu
    "$CC_WIN" -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Werror $omp -fsyntax-only -I. "$f" ||
        { echo "FAILED: Windows build of $f"; fail=1; }
done
build() { # build SOURCE NAME
    "$CC_WIN" -O2 -std=c99 -Wall -Wextra -pedantic -Werror -static $omp -I. "$1" -o "$out/$2.exe" -lm ||
        { echo "FAILED: Windows build of $1"; fail=1; return 1; }
}

# wine 8.0 now and then hangs at the exit of a program whose threads ran OpenMP teams (test_threads:
# about 1 run in 10, the same before and after convae 0.4.0, after the test has printed its
# verdict): each program gets 5 minutes, and one more try when it hangs
run_wine() { # run_wine NAME: bin/mingw/NAME.exe, its output in bin/mingw/NAME.log
    for try in 1 2; do
        (cd "$out" && timeout 300 "$WINE" "./$1.exe" > "$1.log" 2>&1)
        rc=$?
        [ $rc -ne 124 ] && return $rc
        echo "   ($1 hung under wine, try $try of 2)"
    done
    return 124
}
for t in core idx inference report threads; do
    build "tests/test_$t.c" "test_$t" || continue
    # test_report writes its SVG files into the current folder: run it in bin/mingw
    if run_wine "test_$t"; then
        echo "   $(tail -1 "$out/test_$t.log")"
    else
        cat "$out/test_$t.log"; echo "FAILED: Windows test_$t"; fail=1
    fi
done

# the lab, 1 epoch on 512 made-up images; relative paths, which wine maps to this folder
if build examples/mnist_autoencoder.c mnist_autoencoder; then
    mkdir -p "$out/data" && bin/make_data "$out/data" 512 128 || fail=1
    if "$WINE" "$out/mnist_autoencoder.exe" --data "$out/data" --epochs 1 --tsne 0 --out "$out/lab" > "$out/lab.log" 2>&1 &&
        grep -q 'val_loss' "$out/lab.log" && [ -s "$out/lab/model.cae" ] && [ -s "$out/lab/checkpoint.cae" ] &&
        [ -s "$out/lab/report.html" ] && [ -s "$out/lab/history.csv" ] && [ -s "$out/lab/reconstructions.png" ]; then
        echo "   lab: $(grep -E '^Epoch' "$out/lab.log" | tail -1)"
    else
        cat "$out/lab.log"; echo "FAILED: the lab under wine"; fail=1
    fi
    # the model file it wrote is read on Linux: tests/cross.sh compares its outputs with the Linux lab's
fi
if [ $fail -ne 0 ]; then echo "WINDOWS TESTS FAILED"; exit 1; fi
echo "all Windows tests passed"
