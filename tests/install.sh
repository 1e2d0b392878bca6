#!/bin/sh
# make test-install: make install into a temporary prefix (and once more through DESTDIR, as a
# package build does), a small program built against the installed headers alone (with
# pkg-config where it is installed, otherwise -I), run; the installed programs run; then make
# uninstall, after which no file is left in the prefix.
set -u
. tests/need.sh
MAKE=${MAKE:-make}
fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files="include/convae.h include/convae_report.h bin/mnist_autoencoder bin/export_c bin/bench lib/pkgconfig/convae.pc"
echo "== make install / uninstall, and a program built against the installed convae.h"

# DESTDIR: the files go under it, the .pc names the prefix without it
$MAKE -s install PREFIX=/opt/convae DESTDIR="$tmp/stage" || { echo "FAILED: make install DESTDIR=..."; exit 1; }
for f in $files; do [ -f "$tmp/stage/opt/convae/$f" ] || { echo "FAILED: DESTDIR install lacks $f"; fail=1; }; done
grep -qx 'prefix=/opt/convae' "$tmp/stage/opt/convae/lib/pkgconfig/convae.pc" ||
    { echo "FAILED: convae.pc under DESTDIR:"; cat "$tmp/stage/opt/convae/lib/pkgconfig/convae.pc"; fail=1; }
$MAKE -s uninstall PREFIX=/opt/convae DESTDIR="$tmp/stage" || fail=1
left=$(find "$tmp/stage" -type f)
[ -z "$left" ] || { echo "FAILED: make uninstall DESTDIR=... left $left"; fail=1; }

p=$tmp/prefix
$MAKE -s install PREFIX="$p" || { echo "FAILED: make install PREFIX=$p"; exit 1; }
for f in $files; do [ -f "$p/$f" ] || { echo "FAILED: make install lacks $f"; fail=1; }; done
# a program outside the repository: nothing but the installed headers to find
mkdir -p "$tmp/prog"
cat > "$tmp/prog/prog.c" <<'EOF'
#define CONVAE_IMPLEMENTATION
#include <convae.h>
#define CONVAE_REPORT_IMPLEMENTATION
#include <convae_report.h>
#include <stdio.h>
int main(void)
{
    cae_net net;
    cae_err e;
    int n;
    const cae_layer_spec *lab = cae_lab_specs(&n);
    if (cae_net_create(&net, 28, 28, 1, lab, n, 42, &e)) { printf("%s\n", e.msg); return 1; }
    printf("convae %s: the lab's model has %lu parameters\n", CONVAE_VERSION, (unsigned long)net.nparams);
    n = net.nparams == 74497 ? 0 : 1;
    cae_net_free(&net);
    return n;
}
EOF
if command -v pkg-config >/dev/null 2>&1; then
    flags=$(PKG_CONFIG_PATH="$p/lib/pkgconfig" pkg-config --cflags --libs convae) ||
        { echo "FAILED: pkg-config convae"; fail=1; }
    how="pkg-config --cflags --libs convae: $flags"
else
    missing pkg-config pkg-config
    flags="-I$p/include -lm"
    how="$flags"
fi
if (cd "$tmp/prog" && ${CC:-cc} -std=c99 -O1 -Wall -Wextra -pedantic -Werror prog.c -o prog $flags) &&
    out=$("$tmp/prog/prog"); then
    echo "   $out ($how)"
else
    echo "FAILED: a program against the installed headers"; fail=1
fi
"$p/bin/mnist_autoencoder" --help > /dev/null 2>&1 || { echo "FAILED: installed mnist_autoencoder --help"; fail=1; }
"$p/bin/export_c" --help > /dev/null 2>&1 || { echo "FAILED: installed export_c --help"; fail=1; }
$MAKE -s uninstall PREFIX="$p" || fail=1
left=$(find "$p" -type f)
[ -z "$left" ] || { echo "FAILED: make uninstall left $left"; fail=1; }
if [ $fail -ne 0 ]; then echo "INSTALL CHECK FAILED"; exit 1; fi
echo "install check passed: make install, a program built with the installed headers alone, make uninstall"
