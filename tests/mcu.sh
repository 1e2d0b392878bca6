#!/bin/sh
# make mcu: the lab's model on emulated microcontrollers. A model (one quick epoch of the lab on
# MNIST, or the lab's untrained model on made-up images where there is no MNIST) is exported as C
# by tools/export_c, float32 and int8, with test images and the outputs this machine computes for
# them; examples/embedded_infer.c is cross-built with each for Cortex-M4F and Cortex-M7 (hard
# float) and run under qemu-system-arm on the MPS2 boards (AN386: M4, AN500: M7) with
# semihosting. Each image checks itself: float32 within 1e-5 of this machine's _ref outputs,
# int8 the same int32 sums. Last, a build told the wrong sums must fail.
set -u
CC_ARM=${CC_ARM:-arm-none-eabi-gcc}
out=bin/mcu
fail=0
for tool in "$CC_ARM" arm-none-eabi-size qemu-system-arm; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "make mcu: $tool not found (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)"
        exit 1
    }
done
mkdir -p "$out"
mnist=${CONVAE_MNIST_DIR:-../shared/data/mnist}
[ -f "$mnist/train-images-idx3-ubyte.gz" ] || [ -f "$mnist/train-images-idx3-ubyte" ] || mnist=data/mnist
if [ -f "$mnist/train-images-idx3-ubyte.gz" ] || [ -f "$mnist/train-images-idx3-ubyte" ]; then
    echo "== a model: the lab, 1 epoch on 2,000 MNIST images of $mnist"
    bin/mnist_autoencoder --data "$mnist" --epochs 1 --limit 2000 --tsne 0 --out "$out/run" > "$out/run.log" 2>&1 ||
        { cat "$out/run.log"; echo "FAILED: the lab"; exit 1; }
    model="$out/run/model.cae" data=$mnist
else
    echo "== no MNIST: the lab's model as initialised (seed 42), on made-up images"
    model="--lab-init 42" data=synthetic
fi
# shellcheck disable=SC2086
bin/export_c $model "$out/model_f32.h" --data "$data" --test 4 || { echo "FAILED: export float32"; exit 1; }
# shellcheck disable=SC2086
bin/export_c $model "$out/model_i8.h" --data "$data" --test 4 --int8 || { echo "FAILED: export int8"; exit 1; }
sed 's/_TEST_SUMS_CRC 0x[0-9a-f]*UL/_TEST_SUMS_CRC 0x12345678UL/' "$out/model_i8.h" > "$out/model_i8_wrong.h"
if [ -f "$out/run/model.cae" ]; then # a damaged model file: a message, a non-zero exit, nothing written
    head -c 5000 "$out/run/model.cae" > "$out/cut.cae"
    rm -f "$out/cut.h"
    if bin/export_c "$out/cut.cae" "$out/cut.h" > "$out/cut.log" 2>&1 || [ -e "$out/cut.h" ] || [ -e "$out/cut.h.tmp" ] ||
        ! grep -q 'error:' "$out/cut.log"; then
        cat "$out/cut.log"; echo "FAILED: export_c on a truncated model file"; fail=1
    else
        echo "== export_c on a truncated model: $(head -1 "$out/cut.log")"
    fi
fi

flags="-mthumb -mfloat-abi=hard -O2 -std=c99 -Wall -Wextra -pedantic -Werror -I. -I$out -nostartfiles \
 -T tools/mcu/mps2.ld --specs=nano.specs -ffunction-sections -fdata-sections -Wl,--gc-sections"
run() { # name cpu-flags board header: build, size, run
    # shellcheck disable=SC2086
    if ! $CC_ARM $2 $flags -DMODEL_HEADER="\"$4.h\"" examples/embedded_infer.c -o "$out/$1.elf" -lm; then
        echo "FAILED: build of $1"; return 1
    fi
    arts=$(arm-none-eabi-nm -S "$out/$1.elf" | awk '$4 ~ /^model_/ {print $2}' | while read -r hex; do printf '%d\n' "0x$hex"; done |
        awk '{s += $1} END {print s + 0}')
    arm-none-eabi-size "$out/$1.elf" | tail -1 | awk -v n="$1" -v a="$arts" \
        '{printf "%-16s text %7d  data %4d  bss %7d  (text: %d of model and test arrays, %d of code)\n", n, $1, $2, $3, a, $1 - a}'
    timeout 300 qemu-system-arm -M "$3" -nographic -semihosting -kernel "$out/$1.elf" > "$out/$1.log" 2>&1
}
echo "== cross-built with $CC_ARM, run under qemu-system-arm (MPS2 AN386 = Cortex-M4F, AN500 = Cortex-M7)"
for v in "m4_f32|-mcpu=cortex-m4 -mfpu=fpv4-sp-d16|mps2-an386|model_f32" \
         "m7_f32|-mcpu=cortex-m7 -mfpu=fpv5-d16|mps2-an500|model_f32" \
         "m4_int8|-mcpu=cortex-m4 -mfpu=fpv4-sp-d16|mps2-an386|model_i8" \
         "m7_int8|-mcpu=cortex-m7 -mfpu=fpv5-d16|mps2-an500|model_i8"; do
    name=${v%%|*}; rest=${v#*|}; cpu=${rest%%|*}; rest=${rest#*|}; board=${rest%%|*}; hdr=${rest#*|}
    if run "$name" "$cpu" "$board" "$hdr" && grep -q '^match:' "$out/$name.log"; then
        sed 's/^/    /' "$out/$name.log"
    else
        cat "$out/$name.log" 2>/dev/null; echo "FAILED: $name"; fail=1
    fi
done
echo "== an int8 build told the wrong sums must report a mismatch and exit non-zero"
if run m4_int8_wrong "-mcpu=cortex-m4 -mfpu=fpv4-sp-d16" mps2-an386 model_i8_wrong || ! grep -q '^MISMATCH' "$out/m4_int8_wrong.log"; then
    cat "$out/m4_int8_wrong.log"; echo "FAILED: a wrong checksum went unnoticed"; fail=1
else
    grep '^MISMATCH' "$out/m4_int8_wrong.log" | sed 's/^/    /'
fi
if [ $fail -ne 0 ]; then echo "MCU TESTS FAILED"; exit 1; fi
echo "ALL MCU TESTS PASSED"
