#!/bin/sh
# The compile matrix (make test runs it, make test-matrix on its own): convae.h and
# examples/convae_report.h by gcc and clang as C99, C11 and C17 and by g++ and clang++ as C++11
# and C++17, warnings as errors; the build options; CONVAE_STATIC in two files linked together;
# every program; and the OpenMP loops held to what MSVC's OpenMP 2.0 compiles. -fsyntax-only
# where no object is needed, so that it stays quick.
#
# The headers take -Wconversion but not -Wsign-conversion: that one gives over 500 warnings,
# all int -> size_t in index arithmetic whose ranges are checked where the sizes are made.
# The programs take the same flags less -Wconversion (their int -> float in printf-level code).
# Under CI=1 a missing compiler is a failure, not a skip.
set -u
HWARN="-Wall -Wextra -Wpedantic -Wshadow -Wconversion -Wno-sign-conversion -Werror"
PWARN="-Wall -Wextra -Wpedantic -Wshadow -Werror"
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

have() {
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "${CI:-0}" = 1 ]; then echo "FAILED: $1 not installed (apt-get install $2), and CI=1"; fail=1
    else echo "   skipped: $1 not installed (apt-get install $2)"; fi
    return 1
}
# run CMD...: runs it, and on failure says what failed
run() {
    "$@" || { echo "FAILED: $*"; fail=1; }
}

printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\nint main(void){return 0;}\n' > "$tmp/t.c"
printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\n#define CONVAE_REPORT_IMPLEMENTATION\n#include "examples/convae_report.h"\nint main(void){return 0;}\n' > "$tmp/r.c"
cp "$tmp/t.c" "$tmp/t.cpp"
cp "$tmp/r.c" "$tmp/r.cpp"

# the warnings that come from the optimiser (-Wmaybe-uninitialized, -Wstringop-*) need -O2 and an
# object: the two slow compiles run in the background while the rest goes on
for cc in gcc g++; do
    src=$tmp/r.c std=c99
    [ $cc = g++ ] && src=$tmp/r.cpp std=c++17
    command -v $cc >/dev/null 2>&1 &&
        { $cc -std=$std -O2 $HWARN -fopenmp -c -I. "$src" -o "$src.o" || echo "FAILED: $cc -std=$std -O2 $HWARN"; } \
            > "$tmp/$cc-O2.log" 2>&1 &
done

echo "== both headers: gcc/clang -std=c99/c11/c17, g++/clang++ -std=c++11/c++17, with and without OpenMP ($HWARN)"
for cc in gcc clang; do
    have $cc $cc || continue
    for std in c99 c11 c17; do
        run $cc -std=$std $HWARN -fopenmp -fsyntax-only -I. "$tmp/r.c"
        run $cc -std=$std $HWARN -fsyntax-only -I. "$tmp/r.c"
    done
done
for cxx in g++ clang++; do
    have $cxx "$(echo $cxx | sed 's/clang++/clang/')" || continue
    for std in c++11 c++17; do
        run $cxx -std=$std $HWARN -fopenmp -fsyntax-only -I. "$tmp/r.cpp"
        run $cxx -std=$std $HWARN -fsyntax-only -I. "$tmp/r.cpp"
    done
done

echo "== build options, one by one and all together (gcc and clang, C99; g++)"
for opts in "-DCONVAE_NO_SIMD" "-DCONVAE_STATIC" "-DCONVAE_NO_STDIO -DCONVAE_STATIC" "-DCONVAE_NO_TRAIN" \
            "-DCONVAE_NO_GZIP" "-DCONVAE_NO_STDIO -DCONVAE_NO_TRAIN -DCONVAE_NO_GZIP -DCONVAE_NO_SIMD -DCONVAE_STATIC"; do
    for cc in gcc clang; do
        command -v $cc >/dev/null 2>&1 && run $cc -std=c99 $HWARN -fopenmp $opts -fsyntax-only -I. "$tmp/t.c"
    done
    command -v g++ >/dev/null 2>&1 && run g++ -std=c++11 $HWARN -fopenmp $opts -fsyntax-only -I. "$tmp/t.cpp"
done
run gcc -std=c99 $HWARN -DCONVAE_NO_SIMD -fsyntax-only -I. "$tmp/r.c"
if grep -qE 'svg|png_|tsne|zlib_compress' convae.h; then
    echo "FAILED: convae.h holds report code"; grep -nE 'svg|png_|tsne|zlib_compress' convae.h | head -3; fail=1
fi

echo "== linking: a file that only includes convae.h with the one that implements it (C, and C with C++);"
echo "   CONVAE_STATIC implemented in two files of one program"
printf '#include "convae.h"\nint other(void){cae_rng r = cae_rng_seed(1); return (int)(cae_rng_next(&r) & 1);}\n' > "$tmp/u.c"
printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\nint other(void);\nint main(void){return other() > 1;}\n' > "$tmp/m.c"
cp "$tmp/m.c" "$tmp/m.cpp"
sed -i 's/^int other(void);/extern "C" int other(void);/' "$tmp/m.cpp"
for i in 1 2; do
    printf '#define CONVAE_STATIC\n#define CONVAE_IMPLEMENTATION\n#include "convae.h"\nunsigned long long s%d(void){cae_rng r = cae_rng_seed(7); return cae_rng_next(&r);}\n' $i > "$tmp/s$i.c"
done
printf 'unsigned long long s1(void), s2(void);\nint main(void){return s1() == s2() ? 0 : 1;}\n' > "$tmp/s.c"
for cc in gcc clang; do
    command -v $cc >/dev/null 2>&1 || continue
    run $cc -std=c99 $HWARN -I. "$tmp/m.c" "$tmp/u.c" -o "$tmp/two" -lm
    run $cc -std=c99 $HWARN -I. "$tmp/s1.c" "$tmp/s2.c" "$tmp/s.c" -o "$tmp/static2" -lm
    run "$tmp/static2"
done
if command -v g++ >/dev/null 2>&1; then
    run gcc -std=c99 $HWARN -I. -c "$tmp/u.c" -o "$tmp/u.o"
    run g++ $HWARN -I. "$tmp/m.cpp" "$tmp/u.o" -o "$tmp/mixed" -lm
fi

echo "== every program: gcc and clang, C99, with and without OpenMP ($PWARN)"
progs=$(ls examples/*.c tools/*.c tests/*.c | grep -v embedded_infer) # embedded_infer: make mcu
for cc in gcc clang; do
    command -v $cc >/dev/null 2>&1 || continue
    for f in $progs; do
        run $cc -std=c99 $PWARN -fopenmp -fsyntax-only -I. "$f"
        run $cc -std=c99 $PWARN -fsyntax-only -I. "$f"
    done
done

echo "== OpenMP loops as MSVC's OpenMP 2.0 takes them: signed int index, <, <=, > or >=, no collapse"
run awk -f tests/omp_check.awk convae.h examples/*.c examples/*.h tools/*.c

echo "== both headers at -O2 with an object (gcc -std=c99, g++ -std=c++17)"
wait
cat "$tmp"/*-O2.log
grep -q FAILED "$tmp"/*-O2.log && fail=1

if [ $fail -ne 0 ]; then echo "COMPILE MATRIX FAILED"; exit 1; fi
echo "compile matrix passed"
