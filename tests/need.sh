# Sourced by the scripts of make test-cross. need TOOL PACKAGE: true when TOOL is installed;
# otherwise it says "skipped: TOOL not installed (apt-get install PACKAGE)" and is false, or,
# under CI=1 (.ci/run sets it: there every tool is installed), says FAILED and exits 1.
# missing WHAT PACKAGE: the same for something that is not a command.
missing() {
    if [ "${CI:-0}" = 1 ]; then echo "FAILED: $1 not installed (apt-get install $2), and CI=1"; exit 1; fi
    echo "   skipped: $1 not installed (apt-get install $2)"
    return 1
}
need() {
    command -v "$1" >/dev/null 2>&1 || missing "$1" "$2"
}
# m32_include: prints the flag gcc -m32 needs for <errno.h> where gcc-multilib is not installed
# (its /usr/include/asm conflicts with the cross compilers): the x86-64 asm headers, which
# switch on __i386__, linked in as bin/m32/include/asm, last on the include path.
m32_include() {
    if [ ! -e /usr/include/asm ] && [ ! -e /usr/include/i386-linux-gnu/asm ] && [ -d /usr/include/x86_64-linux-gnu/asm ]; then
        mkdir -p bin/m32/include && ln -sfn /usr/include/x86_64-linux-gnu/asm bin/m32/include/asm && echo "-idirafter bin/m32/include"
    fi
}
