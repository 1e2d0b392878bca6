#!/bin/sh
# make test-arm64: the test programs cross-built for AArch64 and run under qemu-user, so that
# the NEON kernel set is held to the scalar reference like the x86 sets; then both headers
# compiled for Apple silicon (arm64-apple-macos, no OpenMP) by clang, as far as a machine
# without the macOS SDK can: a syntax check against the libc prototypes in tests/macos.
# Emulated speed means nothing; only the results count.
set -u
CC_ARM64=${CC_ARM64:-aarch64-linux-gnu-gcc}
QEMU_ARM64=${QEMU_ARM64:-qemu-aarch64}
SYSROOT=${SYSROOT_ARM64:-/usr/aarch64-linux-gnu}
out=bin/arm64
fail=0
. tests/need.sh
need "$CC_ARM64" gcc-aarch64-linux-gnu || exit 0
need "$QEMU_ARM64" qemu-user || exit 0
mkdir -p "$out"
for t in core idx inference report; do
    echo "== arm64: test_$t (built with $CC_ARM64, run under $QEMU_ARM64)"
    if ! "$CC_ARM64" -O2 -std=c99 -Wall -Wextra -pedantic -Werror -fopenmp -I. "tests/test_$t.c" -o "$out/test_$t" -lm; then
        echo "FAILED: arm64 build of test_$t"; fail=1; continue
    fi
    # test_report writes its SVG files into the current folder: run it in bin/arm64
    if ! (cd "$out" && "$QEMU_ARM64" -L "$SYSROOT" "./test_$t" > "test_$t.log" 2>&1); then
        cat "$out/test_$t.log"; echo "FAILED: arm64 test_$t"; fail=1
    else
        tail -1 "$out/test_$t.log"
    fi
done
if ! grep -q 'nets run on neon' "$out/test_core.log"; then
    echo "FAILED: on arm64 the nets do not run on the NEON set"; fail=1
fi
if command -v clang >/dev/null 2>&1; then
    echo "== Apple silicon: convae.h and examples/convae_report.h for arm64-apple-macos11, as C99 and C++, no OpenMP"
    tmp=$(mktemp -d)
    printf '#define CONVAE_IMPLEMENTATION\n#include "convae.h"\n#define CONVAE_REPORT_IMPLEMENTATION\n#include "examples/convae_report.h"\nint main(void){return 0;}\n' > "$tmp/m.c"
    cp "$tmp/m.c" "$tmp/m.cpp"
    clang --target=arm64-apple-macos11 -fsyntax-only -std=c99 -Wall -Wextra -pedantic -Werror -nostdlibinc \
        -isystem tests/macos -I. "$tmp/m.c" || { echo "FAILED: arm64-apple-macos C99"; fail=1; }
    clang++ --target=arm64-apple-macos11 -fsyntax-only -Wall -Wextra -Werror -nostdlibinc -isystem tests/macos -I. \
        "$tmp/m.cpp" || { echo "FAILED: arm64-apple-macos C++"; fail=1; }
    rm -rf "$tmp"
else
    echo "== skipped the arm64-apple-macos syntax check: no clang"
fi
if [ $fail -ne 0 ]; then echo "ARM64 TESTS FAILED"; exit 1; fi
echo "ALL ARM64 TESTS PASSED"
