#!/bin/sh
# make test-m32 (part of make test-cross): the test programs built for 32-bit x86 with gcc -m32
# and run here: 32-bit size_t, long and pointers, x87 float arithmetic (FLT_EVAL_METHOD 2), the
# SIMD sets still chosen at run time. Needs lib32gcc-12-dev and libc6-dev-i386 (Debian's
# gcc-multilib conflicts with the cross compilers).
set -u
. tests/need.sh
out=bin/m32
fail=0
echo "== i386: the test programs built with gcc -m32"
need gcc gcc || exit 0
mkdir -p "$out"
inc=$(m32_include)
printf '#include <errno.h>\n#include <math.h>\n#include <stdio.h>\nint main(void){printf("%%d\\n", (int)sizeof(void *)); return sqrt((double)errno) > 1;}\n' > "$out/probe.c"
if ! gcc -m32 $inc "$out/probe.c" -o "$out/probe" -lm 2>"$out/probe.log" || [ "$("$out/probe")" != 4 ]; then
    cat "$out/probe.log"; missing "gcc -m32 libraries" "lib32gcc-12-dev libc6-dev-i386"; exit 0
fi
omp=-fopenmp
gcc -m32 $inc -fopenmp "$out/probe.c" -o "$out/probe" -lm 2>/dev/null || { omp=; echo "   (no 32-bit libgomp: without OpenMP)"; }
# every program compiles with 32-bit long and size_t (export_c's int8 multipliers once did not)
for f in $(ls examples/*.c tools/*.c tests/*.c | grep -v embedded_infer); do # embedded_infer: make mcu
    gcc -m32 $inc -std=c99 -Wall -Wextra -Wpedantic -Wshadow -Werror $omp -fsyntax-only -I. "$f" ||
        { echo "FAILED: i386 build of $f"; fail=1; }
done
for t in core idx inference report threads; do
    libs=-lm
    [ $t = threads ] && libs="-lm -lpthread"
    if ! gcc -m32 $inc -O2 -std=c99 -Wall -Wextra -pedantic -Werror $omp -I. "tests/test_$t.c" -o "$out/test_$t" $libs; then
        echo "FAILED: i386 build of test_$t"; fail=1; continue
    fi
    # test_report writes its SVG files into the current folder: run it in bin/m32
    if (cd "$out" && "./test_$t" > "test_$t.log" 2>&1); then
        echo "   $(tail -1 "$out/test_$t.log")"
    else
        cat "$out/test_$t.log"; echo "FAILED: i386 test_$t"; fail=1
    fi
done
if [ $fail -ne 0 ]; then echo "I386 TESTS FAILED"; exit 1; fi
echo "all i386 tests passed"
