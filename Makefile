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
TESTS    = $(patsubst tests/%.c,bin/%,$(filter-out tests/fuzz_%.c tests/make_%.c tests/cross_%.c,$(wildcard tests/*.c)))

DATA    ?= data/mnist
EPOCHS  ?= 15
LIMIT   ?= 0
OUT     ?= runs/mnist
SHARED_MNIST ?= ../shared/data/mnist

.PHONY: all test test-arm64 mcu bench demo data clean sanitize valgrind fuzz cuda cuda-if-nvcc
all: $(EXAMPLES) $(TOOLS) cuda-if-nvcc

bin/%: examples/%.c convae.h examples/convae_report.h | bin
	$(CC) $(ALL_CFLAGS) $< -o $@ $(LDLIBS)
bin/%: tools/%.c convae.h examples/convae_report.h | bin
	$(CC) $(ALL_CFLAGS) $< -o $@ $(LDLIBS)
# make_data: a small made-up MNIST folder, for the checks that must run without the real
# files; make_seeds: small model, checkpoint and .npy files for the fuzzers' seeds
bin/make_%: tests/make_%.c convae.h | bin
	$(CC) $(ALL_CFLAGS) -O2 $< -o $@ $(LDLIBS)
bin/test_%: tests/test_%.c convae.h examples/convae_report.h tests/png_decode.h tests/npy_fixtures.h | bin
	$(CC) $(ALL_CFLAGS) -O2 $< -o $@ $(LDLIBS)
bin/test_threads: LDLIBS += -lpthread
# the same tests with the scalar kernels only, and without OpenMP
bin/scalar_test_%: tests/test_%.c convae.h | bin
	$(CC) $(CFLAGS) $(MARCH) $(WARN) $(OMPFLAG) -DCONVAE_NO_SIMD -I. -O2 $< -o $@ $(LDLIBS)
bin/serial_test_%: tests/test_%.c convae.h | bin
	$(CC) $(CFLAGS) $(MARCH) $(WARN) -I. -O2 -Wno-unknown-pragmas $< -o $@ $(LDLIBS)
bin:
	mkdir -p bin

# the CUDA unit (tools/convae_cuda.cu) and its kernel test on the GPU; make test runs the same
# kernels walked on the CPU (bin/test_gpu). sm_80 (A100) and sm_90 (H100/H200) code, and PTX
# that newer GPUs compile when they load it.
NVCC      ?= nvcc
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
cuda: bin/test_gpu_cuda bin/mnist_autoencoder_cuda
cuda-if-nvcc:
	@if command -v $(NVCC) >/dev/null 2>&1; then $(MAKE) --no-print-directory cuda; \
	else echo "skipped CUDA: no $(NVCC) on PATH (make cuda NVCC=/path/to/nvcc)"; fi
bin/convae_cuda.o: tools/convae_cuda.cu tools/convae_cuda.h convae.h | bin
	$(NVCC) -O3 -std=c++14 $(CUDA_ARCH) -Xcompiler -Wall,-Wextra -c $< -o $@
bin/test_gpu_cuda: tests/test_gpu.c bin/convae_cuda.o
	$(CC) $(ALL_CFLAGS) -O2 -DCAE_GPU_CUDA -c $< -o bin/test_gpu_cuda.o
	$(NVCC) -o $@ bin/test_gpu_cuda.o bin/convae_cuda.o $(if $(OMPFLAG),-Xcompiler $(OMPFLAG)) $(LDLIBS)
# the lab with --gpu
bin/mnist_autoencoder_cuda: examples/mnist_autoencoder.c examples/convae_report.h bin/convae_cuda.o
	$(CC) $(ALL_CFLAGS) -DCONVAE_GPU -c $< -o bin/mnist_autoencoder_cuda.o
	$(NVCC) -o $@ bin/mnist_autoencoder_cuda.o bin/convae_cuda.o $(if $(OMPFLAG),-Xcompiler $(OMPFLAG)) $(LDLIBS)
# the same lab with the unit built for host emulation (make test: --gpu on small made-up data)
bin/mnist_autoencoder_gpuemu: examples/mnist_autoencoder.c examples/convae_report.h tools/convae_cuda.cu tools/convae_cuda.h convae.h | bin
	$(CC) $(ALL_CFLAGS) -DCONVAE_GPU -DCAE_GPU_EMULATE $< -x c tools/convae_cuda.cu -o $@ $(LDLIBS)

test: $(TESTS) bin/scalar_test_core bin/serial_test_core bin/mnist_autoencoder bin/latent_sweep bin/make_data bin/mnist_autoencoder_gpuemu
	@tests/run.sh $(TESTS) bin/scalar_test_core bin/serial_test_core

# the test programs cross-built for arm64 and run under qemu-user (gcc-aarch64-linux-gnu, qemu-user)
test-arm64:
	@tests/arm64.sh

# the compile matrix on its own (make test runs it too): both headers by gcc, clang, g++ and
# clang++ in each standard, the build options, every program, the OpenMP loops
test-matrix:
	@tests/matrix.sh

# everything built for another machine and run here: arm64 and s390x (big-endian) under
# qemu-user, i386 (gcc -m32), Windows (mingw-w64, under wine), then the model and IDX files
# compared across them (tests/cross.sh). A part whose tool is missing says so and is skipped;
# with CI=1 that is a failure. s390x, the slowest, runs beside the rest (its log comes last);
# CROSS_FULL=1 gives it test_core's training group too. Packages: gcc-aarch64-linux-gnu
# gcc-s390x-linux-gnu qemu-user lib32gcc-12-dev libc6-dev-i386 gcc-mingw-w64 wine wine64.
test-cross: bin/mnist_autoencoder bin/make_data
	@mkdir -p bin/s390x; tests/s390x.sh > bin/s390x/run.log 2>&1 & pid=$$!; fail=0; \
	tests/arm64.sh || fail=1; tests/m32.sh || fail=1; tests/mingw.sh || fail=1; tests/cross.sh || fail=1; \
	wait $$pid || fail=1; cat bin/s390x/run.log; \
	if [ $$fail = 0 ]; then echo "ALL CROSS TESTS PASSED"; else echo "CROSS TESTS FAILED"; exit 1; fi
test-s390x:
	@tests/s390x.sh
test-m32:
	@tests/m32.sh
test-mingw: bin/make_data
	@tests/mingw.sh
test-files: bin/mnist_autoencoder bin/make_data
	@tests/cross.sh

# make install PREFIX=... DESTDIR=...: the two headers, the lab, export_c and bench, and a
# pkg-config file (Cflags -I${includedir}, Libs -lm); make uninstall removes exactly those.
# make test-install installs into a temporary prefix, builds a program against that alone,
# and uninstalls.
PREFIX  ?= /usr/local
VERSION := $(shell sed -n 's/^\#define CONVAE_VERSION "\(.*\)"/\1/p' convae.h)
INSTALLED = include/convae.h include/convae_report.h bin/mnist_autoencoder bin/export_c bin/bench \
            lib/pkgconfig/convae.pc
install: bin/mnist_autoencoder bin/export_c bin/bench
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 convae.h examples/convae_report.h $(DESTDIR)$(PREFIX)/include
	install -m 755 bin/mnist_autoencoder bin/export_c bin/bench $(DESTDIR)$(PREFIX)/bin
	printf 'prefix=%s\nincludedir=$${prefix}/include\n\nName: convae\nDescription: %s\nVersion: %s\nCflags: -I$${includedir}\nLibs: -lm\n' \
	    '$(PREFIX)' 'convolutional autoencoders in one C header' '$(VERSION)' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/convae.pc
uninstall:
	rm -f $(addprefix $(DESTDIR)$(PREFIX)/,$(INSTALLED))
test-install: bin/mnist_autoencoder bin/export_c bin/bench
	@tests/install.sh
.PHONY: test-matrix test-cross test-s390x test-m32 test-mingw test-files install uninstall test-install

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

# make sanitize: the test programs and the lab with AddressSanitizer and UBSan (leaks checked
# too), the lab on a small made-up set (a run, a resumed run, a run from the saved model), then
# on bad inputs; bench --quick (the per-image kernels with its own buffers); the fuzz harnesses,
# built without libFuzzer, replay tests/regress/.
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=all -g -O1 $(WARN) -Wno-unknown-pragmas \
            $(OMPFLAG) $(SIMDFLAG) -I.
SAN_TESTS = $(patsubst bin/%,bin/san/%,$(TESTS))
SAN_FUZZ  = $(patsubst tests/%.c,bin/san/%,$(wildcard tests/fuzz_*.c))
bin/san/test_%: tests/test_%.c convae.h examples/convae_report.h tests/png_decode.h tests/npy_fixtures.h | bin/san
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)
bin/san/test_threads: LDLIBS += -lpthread
bin/san/mnist_autoencoder: examples/mnist_autoencoder.c convae.h examples/convae_report.h | bin/san
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)
bin/san/bench: tools/bench.c convae.h | bin/san
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)
bin/san/fuzz_%: tests/fuzz_%.c tests/fuzz_main.h convae.h | bin/san
	$(CC) $(SAN_FLAGS) -DFUZZ_STANDALONE $< -o $@ $(LDLIBS)
bin/san:
	mkdir -p bin/san

sanitize: $(SAN_TESTS) $(SAN_FUZZ) bin/san/mnist_autoencoder bin/san/bench bin/make_data
	@set -e; export ASAN_OPTIONS=detect_leaks=1; \
	for t in $(SAN_TESTS); do echo "== $$t"; $$t; done; \
	for f in $(SAN_FUZZ); do n=$${f##*/}; if [ -d tests/regress/$$n ]; then \
	    echo "== $$f tests/regress/$$n/*"; $$f tests/regress/$$n/*; fi; done; \
	lab=bin/san/mnist_autoencoder; rm -rf bin/san/data bin/san/lab bin/san/lab2; mkdir bin/san/data; \
	bin/make_data bin/san/data 600 200; \
	echo "== $$lab: 1 epoch on 600 made-up images, then --resume to 2, then --load its model.cae"; \
	$$lab --data bin/san/data --epochs 1 --tsne 100 --out bin/san/lab > bin/san/lab.log; \
	$$lab --data bin/san/data --epochs 2 --tsne 100 --out bin/san/lab --resume >> bin/san/lab.log; \
	$$lab --data bin/san/data --epochs 0 --tsne 100 --out bin/san/lab2 --load bin/san/lab/model.cae >> bin/san/lab.log; \
	grep -E '^Epoch' bin/san/lab.log; \
	echo "== bad inputs"; tests/bad_inputs.sh $$lab; \
	echo "== bin/san/bench --quick --no-torch on the made-up images"; \
	bin/san/bench --quick --no-torch --data bin/san/data > bin/san/bench.log || { tail -20 bin/san/bench.log; exit 1; }; \
	tail -2 bin/san/bench.log

# make valgrind: test_core and a 1-epoch lab run under memcheck (no errors, no leak). Valgrind
# does not run AVX-512 and tells the program so: the library then picks its AVX2 set by itself.
# test_core is built without OpenMP, whose idle threads spin for minutes under valgrind.
VALGRIND = valgrind --tool=memcheck --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite -q
bin/vg/test_core: tests/test_core.c convae.h | bin/vg
	$(CC) $(CFLAGS) -g $(WARN) -Wno-unknown-pragmas $(SIMDFLAG) -I. $< -o $@ $(LDLIBS)
bin/vg:
	mkdir -p bin/vg

valgrind: bin/vg/test_core bin/mnist_autoencoder bin/make_data
	@set -e; rm -rf bin/vg/data bin/vg/lab; mkdir bin/vg/data; bin/make_data bin/vg/data 64 32; \
	echo "== valgrind bin/vg/test_core"; $(VALGRIND) bin/vg/test_core; \
	echo "== valgrind bin/mnist_autoencoder: 1 epoch on 64 made-up images, 1 thread"; \
	$(VALGRIND) bin/mnist_autoencoder --data bin/vg/data --epochs 1 --tsne 32 --threads 1 --out bin/vg/lab \
	    > bin/vg/lab.log || { cat bin/vg/lab.log; exit 1; }; grep -E '^Epoch' bin/vg/lab.log

# make fuzz: one libFuzzer harness per tests/fuzz_*.c (clang), all run at once for
# FUZZ_SECONDS each on the seeds of tests/fuzz_corpus.sh, tests/regress/ and what earlier runs
# found (bin/fuzz/corpus/).
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZERS       = $(patsubst tests/%.c,bin/fuzz/%,$(wildcard tests/fuzz_*.c))
bin/fuzz/fuzz_%: tests/fuzz_%.c tests/fuzz_main.h convae.h | bin/fuzz
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I. $< -o $@ -lm
bin/fuzz:
	mkdir -p bin/fuzz

fuzz: $(FUZZERS) bin/make_data bin/make_seeds
	@tests/fuzz_corpus.sh bin/fuzz/seeds
	@tests/fuzz_run.sh $(FUZZ_SECONDS) bin/fuzz/seeds bin/fuzz/corpus $(FUZZERS)

clean:
	rm -rf bin
