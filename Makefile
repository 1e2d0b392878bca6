# convae - make builds everything into bin/, make test runs the tests, make demo runs the lab.
# Switches: OMP=0 (no OpenMP), SIMD=0 (scalar kernels only), MARCH=-march=native (tune the
# plain C parts for this machine; not needed for speed: the SIMD kernels are picked at run
# time, and a binary built without it runs on any machine of its architecture), CC=clang,
# EPOCHS=, LIMIT=, DATA=.
CC      ?= cc
CXX     ?= c++
MARCH   ?=
OMP     ?= 1
SIMD    ?= 1
CFLAGS  ?= -O3
WARN     = -std=c99 -Wall -Wextra -pedantic
LDLIBS   = -lm
ifeq ($(OMP),1)
  OMPFLAG = -fopenmp
endif
ifeq ($(SIMD),0)
  SIMDFLAG = -DCONVAE_NO_SIMD
endif
ALL_CFLAGS = $(CFLAGS) $(MARCH) $(WARN) $(OMPFLAG) $(SIMDFLAG) -I.

# embedded_infer.c is a bare-metal Cortex-M program: make mcu builds it
EXAMPLES = $(patsubst examples/%.c,bin/%,$(filter-out examples/embedded_infer.c,$(wildcard examples/*.c)))
TOOLS    = $(patsubst tools/%.c,bin/%,$(wildcard tools/*.c))
TESTS    = $(patsubst tests/%.c,bin/%,$(filter-out tests/fuzz_%.c tests/make_%.c,$(wildcard tests/*.c)))

DATA    ?= data/mnist
EPOCHS  ?= 15
LIMIT   ?= 0
OUT     ?= runs/mnist
SHARED_MNIST ?= ../shared/data/mnist

.PHONY: all test test-arm64 mcu bench demo data clean
all: $(EXAMPLES) $(TOOLS)

bin/%: examples/%.c convae.h examples/convae_report.h | bin
	$(CC) $(ALL_CFLAGS) $< -o $@ $(LDLIBS)
bin/%: tools/%.c convae.h examples/convae_report.h | bin
	$(CC) $(ALL_CFLAGS) $< -o $@ $(LDLIBS)
# a small made-up MNIST folder, for the checks that must run without the real files
bin/make_data: tests/make_data.c convae.h | bin
	$(CC) $(ALL_CFLAGS) -O2 $< -o $@ $(LDLIBS)
bin/test_%: tests/test_%.c convae.h examples/convae_report.h tests/png_decode.h tests/npy_fixtures.h | bin
	$(CC) $(ALL_CFLAGS) -O2 $< -o $@ $(LDLIBS)
# the same tests with the scalar kernels only, and without OpenMP
bin/scalar_test_%: tests/test_%.c convae.h | bin
	$(CC) $(CFLAGS) $(MARCH) $(WARN) $(OMPFLAG) -DCONVAE_NO_SIMD -I. -O2 $< -o $@ $(LDLIBS)
bin/serial_test_%: tests/test_%.c convae.h | bin
	$(CC) $(CFLAGS) $(MARCH) $(WARN) -I. -O2 -Wno-unknown-pragmas $< -o $@ $(LDLIBS)
bin:
	mkdir -p bin

test: $(TESTS) bin/scalar_test_core bin/serial_test_core bin/mnist_autoencoder bin/make_data
	@tests/run.sh $(TESTS) bin/scalar_test_core bin/serial_test_core

# the test programs cross-built for arm64 and run under qemu-user (gcc-aarch64-linux-gnu, qemu-user)
test-arm64:
	@tests/arm64.sh

# the lab's model exported as C and run on emulated Cortex-M4F/M7 boards (gcc-arm-none-eabi,
# libnewlib-arm-none-eabi, qemu-system-arm)
mcu: bin/export_c bin/mnist_autoencoder
	@tests/mcu.sh

bench: bin/bench
	bin/bench --data $(SHARED_MNIST)

data:
	@tools/get_mnist.sh $(DATA) $(SHARED_MNIST)

demo: bin/mnist_autoencoder
	@if [ "$(DATA)" = data/mnist ]; then tools/get_mnist.sh data/mnist $(SHARED_MNIST) || exit 1; fi
	bin/mnist_autoencoder --data $(DATA) --epochs $(EPOCHS) $(if $(filter-out 0,$(LIMIT)),--limit $(LIMIT)) --out $(OUT)

clean:
	rm -rf bin
