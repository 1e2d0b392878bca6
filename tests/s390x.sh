#!/bin/sh
# make test-s390x (part of make test-cross): the test programs cross-built for s390x, big-endian
# (scalar kernels only), and run under qemu-user. GCC there evaluates float expressions in double
# under -std=c99 (FLT_EVAL_METHOD 1), so the tests compare floats through float variables.
# The training group of test_core takes 8 of its 11 minutes under qemu and runs the same
# scalar code as bin/scalar_test_core does natively: it is left out unless CROSS_FULL=1.
# Emulated speed means nothing; only the results count.
set -u
. tests/need.sh
CC_S390X=${CC_S390X:-s390x-linux-gnu-gcc}
QEMU_S390X=${QEMU_S390X:-qemu-s390x}
SYSROOT=${SYSROOT_S390X:-/usr/s390x-linux-gnu}
out=bin/s390x
fail=0
echo "== s390x (big-endian): the test programs built with $CC_S390X, run under $QEMU_S390X"
need "$CC_S390X" gcc-s390x-linux-gnu || exit 0
need "$QEMU_S390X" qemu-user || exit 0
mkdir -p "$out"
if [ "${CROSS_FULL:-0}" = 1 ]; then skip=; else skip=CONVAE_TEST_SKIP_TRAINING=1; fi
for t in core idx inference report; do
    if ! "$CC_S390X" -O2 -std=c99 -Wall -Wextra -pedantic -Werror -fopenmp -I. "tests/test_$t.c" -o "$out/test_$t" -lm; then
        echo "FAILED: s390x build of test_$t"; fail=1; continue
    fi
    # test_report writes its SVG files into the current folder: run it in bin/s390x
    if (cd "$out" && env $skip "$QEMU_S390X" -L "$SYSROOT" "./test_$t" > "test_$t.log" 2>&1); then
        echo "   $(tail -1 "$out/test_$t.log")"
    else
        cat "$out/test_$t.log"; echo "FAILED: s390x test_$t"; fail=1
    fi
done
grep -q 'skipped (CONVAE_TEST_SKIP_TRAINING)' "$out/test_core.log" 2>/dev/null &&
    echo "   (test_core without its training group; CROSS_FULL=1 runs it too, 8 more minutes)"
if [ $fail -ne 0 ]; then echo "S390X TESTS FAILED"; exit 1; fi
echo "all s390x tests passed"
