# audiocnn - build, test and install the tools.
#   make            build every tool (release flags) into build/bin
#   make test       build and run all tests; ends with "N passed, N failed, N skipped"
#   make asan       the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       build the libFuzzer targets (clang) and run each for FUZZ_SECONDS
#   make bench      run the benchmarks under bench/ (needs ../shared/data)
#   make install PREFIX=/usr/local   binaries and man pages
#   make CUDA=1     (or make cuda) the same tools with the GPU backend (lib/nn/*.cu) into build-cuda/
#                   (CUDA_HOME, else /usr/local/cuda, else nvcc on PATH; cudart, cuBLAS, cuDNN 9)
#   make SIMGPU=1   the GPU build's C side on a simulated GPU (tests/simgpu/cudasim.c, no nvcc) into
#                   build-simgpu/: device memory the host cannot touch, the CPU layers underneath
#   make deps       install the Debian packages the build needs (nothing when present)
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
.SUFFIXES:
.SECONDARY:

CC       ?= cc
# -fno-trapping-math: no code here traps on FP exceptions; it lets loops with comparisons (clamps,
# ReLU masks, the SiLU/sigmoid exp) vectorise. It changes no value.
OPT      ?= -O3 -march=x86-64-v2 -fno-trapping-math -g
CFLAGS   ?= $(OPT)
WARN     := -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter -D_POSIX_C_SOURCE=200809L
# cairo and FreeType at Debian's fixed paths: CPPFLAGS is expanded when the Makefile is read, before
# `make deps` may have installed them (pkg-config would find nothing on a fresh machine).
CPPFLAGS += -Ilib -I/usr/include/x86_64-linux-gnu/openblas-pthread -I/usr/include/cairo -I/usr/include/freetype2
LDLIBS   += -lsndfile -lfftw3 -lsoxr -lopenblas -lcairo -lfreetype -lpng -lm -lpthread
PREFIX   ?= /usr/local

# The GPU backend (CUDA=1): .cu files beside their CPU twins in lib/nn/, compiled by nvcc for the archs in
# CUDA_ARCH (A100 sm_80 and H100/H200 sm_90, plus PTX for later GPUs), linked with cudart, cuBLAS and
# cuDNN; the C files get -DAUDIOCNN_CUDA (the layers' dispatch to their twins) and -Werror. A build of its
# own (build-cuda/ by default), so that the default build never sees the toolkit.
CUDA     ?= 0
SIMGPU   ?= 0
# The simulated GPU (SIMGPU=1): the C files exactly as the CUDA build compiles them (-DAUDIOCNN_CUDA, the
# dispatch to the twins, -Werror), linked with tests/simgpu/cudasim.c instead of the .cu files: one fake
# GPU whose memory is guarded pages the host can touch only inside a layer call or a copy, each twin the
# CPU layer underneath. The CUDA path's host logic then runs (and is tested, tests/cli/simgpu.sh) here,
# and must give the CPU's bytes.
SIM_SRC  :=
ifeq ($(SIMGPU),1)
ifeq ($(CUDA),1)
$(error SIMGPU=1 and CUDA=1: choose one)
endif
BUILD    ?= build-simgpu
CPPFLAGS += -DAUDIOCNN_CUDA -DAUDIOCNN_CUDA_SIM
WARN     += -Werror
SIM_SRC  := tests/simgpu/cudasim.c
endif
ifeq ($(CUDA),1)
BUILD    ?= build-cuda
NVCC_PATH := $(shell command -v nvcc 2>/dev/null)
CUDA_HOME ?= $(or $(wildcard /usr/local/cuda),$(patsubst %/bin/nvcc,%,$(NVCC_PATH)))
ifeq ($(wildcard $(CUDA_HOME)/bin/nvcc),)
$(error CUDA=1: no CUDA toolkit (set CUDA_HOME, install to /usr/local/cuda, or put nvcc on PATH))
endif
NVCC     := $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=[sm_90,compute_90]
# --fmad=false: no contraction into FMAs, as the C side (ISO C mode) does not contract either, so that an
# own kernel's __host__ __device__ arithmetic gives the CPU test's bits.
NVFLAGS  ?= -O3 -g -std=c++17 --fmad=false $(CUDA_ARCH) -Werror all-warnings \
            -Xcompiler -Wall,-Wextra,-Wno-unused-parameter,-Werror
CPPFLAGS += -DAUDIOCNN_CUDA -I$(CUDA_HOME)/include
WARN     += -Werror
LDLIBS   += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudnn -lcublas -lcudart -lstdc++
CU_SRC   := $(sort $(wildcard lib/*/*.cu))
else
BUILD    ?= build
CU_SRC   :=
endif

TOOLS    := wav2mel specnorm splitset cnntrain cnneval mkreport
# lib/ is one folder per stage (lib/README.md); headers are included by folder: "audio/melspec.h".
LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_HDR  := $(wildcard lib/*/*.h)
LIB_OBJ  := $(LIB_SRC:lib/%.c=$(BUILD)/lib/%.o) $(CU_SRC:lib/%.cu=$(BUILD)/lib/%.cu.o) \
            $(SIM_SRC:tests/simgpu/%.c=$(BUILD)/simgpu/%.o)
BINS     := $(TOOLS:%=$(BUILD)/bin/%)
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNITS    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
# Test drivers: C programs the Python parity tests run on fixtures that PyTorch made.
DRV_SRC  := $(sort $(wildcard tests/drivers/*.c))
DRIVERS  := $(DRV_SRC:tests/drivers/%.c=$(BUILD)/tests/drivers/%)
# The GPU tests (tests/gpu/run.sh): built by every build, so that they cannot rot; they skip without a GPU.
GPU_TESTS := $(BUILD)/tests/gpu/layers
# bench/gpu's own side, built with the tests for the same reason (bench/gpu/run.sh runs it)
GPU_BENCH := $(BUILD)/bench/gpu

# Debian packages: to build, and (extra) to run the reference tests.
DEB_BUILD := gcc make pkg-config libsndfile1-dev libfftw3-dev libopenblas-dev libsoxr-dev libpng-dev libcairo2-dev libfreetype-dev fonts-dejavu-core
DEB_TEST  := python3 python3-venv python3-pip python3-numpy python3-torch python3-torchaudio python3-torchvision clang libclang-rt-14-dev sox chromium
SUDO      := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
VENV      := .venv

.PHONY: build all test asan fuzz bench bench-deps install deps test-deps clean cuda
build: $(BINS)
cuda:
	@$(MAKE) --no-print-directory $(JOBS) CUDA=1 build
# make all: the tools, the default data set (make data), then the whole job on it (pipeline.mk) into
# outputs/drums, with a front end for one-shots: 1 s from the onset, floored 80 dB below the peak, 87
# frames. Variables given here (DATA=, MODELS=, TRAIN_OPTS=, ...) pass through to pipeline.mk.
PIPELINE_DRUMS := $(if $(filter-out undefined,$(origin DATA) $(origin MEL_OPTS)),,MEL_OPTS='--duration 1 --top-db 80') \
                  $(if $(filter-out undefined,$(origin DATA) $(origin FRAMES)),,FRAMES=87)
all: build $(if $(filter undefined,$(origin DATA)),data)
	@$(MAKE) --no-print-directory -f pipeline.mk all BIN=$(BUILD)/bin $(PIPELINE_DRUMS)

# The default data set: acoustic drum one-shots from Debian's hydrogen-drumkits (data/README.md).
.PHONY: data
data:
	@dpkg-query -W -f='$${Status}' hydrogen-drumkits 2>/dev/null | grep -q 'ok installed' || { \
	  echo "make data: installing hydrogen-drumkits" >&2; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends hydrogen-drumkits >&2; }
	@data/prepare-drums.sh

deps:
	@missing=$$(for p in $(DEB_BUILD); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make deps: installing$$(echo ' '$$missing)" >&2; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >&2; \
	fi

test-deps: deps
	@missing=$$(for p in $(DEB_TEST); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "make test-deps: installing$$(echo ' '$$missing)" >&2; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >&2; \
	fi
	@if [ ! -f $(VENV)/.done ] || [ tests/requirements.txt -nt $(VENV)/.done ]; then \
	  echo "make test-deps: Python references into $(VENV) (tests/requirements.txt)" >&2; \
	  ( /usr/bin/python3 -m venv --system-site-packages $(VENV) && \
	    $(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt && touch $(VENV)/.done ) >&2 \
	  || echo "make test-deps: warning: could not install the Python references; tests that need them will skip" >&2; \
	fi

$(BUILD)/lib/%.o: lib/%.c $(LIB_HDR) | deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c $< -o $@

$(BUILD)/lib/%.cu.o: lib/%.cu $(LIB_HDR) $(wildcard lib/*/*.cuh)
	@mkdir -p $(@D)
	$(NVCC) -Ilib -DAUDIOCNN_CUDA $(NVFLAGS) -c $< -o $@

$(BUILD)/simgpu/%.o: tests/simgpu/%.c $(LIB_HDR) | deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c $< -o $@

# tests/simgpu's programs (the guard's own test), for the simulated build only
$(BUILD)/tests/simgpu/%: tests/simgpu/%.c $(BUILD)/libaudiocnn.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< $(BUILD)/libaudiocnn.a $(LDLIBS) -o $@

$(BUILD)/tools/%.o: tools/%.c $(LIB_HDR) | deps
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -c $< -o $@

$(BUILD)/libaudiocnn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bin/%: $(BUILD)/tools/%.o $(BUILD)/libaudiocnn.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/tests/%: tests/unit/%.c tests/unit/check.h $(BUILD)/libaudiocnn.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) -Itests/unit $< $(BUILD)/libaudiocnn.a $(LDLIBS) -o $@

$(BUILD)/tests/gpu/%: tests/gpu/%.c $(BUILD)/libaudiocnn.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< $(BUILD)/libaudiocnn.a $(LDLIBS) -o $@

$(GPU_BENCH): bench/gpu/bench.c $(BUILD)/libaudiocnn.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< $(BUILD)/libaudiocnn.a $(LDLIBS) -o $@

$(BUILD)/tests/drivers/%: tests/drivers/%.c $(BUILD)/libaudiocnn.a
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARN) $(CFLAGS) $< $(BUILD)/libaudiocnn.a $(LDLIBS) -o $@

# What the tests run, compiled on every core unless the command line chose its own -j (a recipe sees it
# in MAKEFLAGS); the tests themselves then run one at a time.
JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc))
TEST_PROGS = $(BINS) $(UNITS) $(DRIVERS) $(GPU_TESTS) $(GPU_BENCH)
.PHONY: test-progs
test-progs: $(TEST_PROGS)
test: test-deps
	@$(MAKE) --no-print-directory $(JOBS) test-progs
	@BIN=$(abspath $(BUILD)/bin) UNITS="$(abspath $(UNITS))" DRIVERS=$(abspath $(BUILD)/tests/drivers) \
	  PY=$(abspath $(VENV))/bin/python CUDA_BUILD=$(CUDA) GPU_TESTS=$(abspath $(GPU_TESTS)) tests/run.sh

# Same tests, sanitizer build in build-asan/ (the Python parity tests run too, on the sanitized tools).
asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  LDFLAGS="-fsanitize=address,undefined" test

FUZZ_SECONDS ?= 60
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZERS  := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
# The library once, instrumented for the fuzzers (clang, coverage without libFuzzer's main), in
# build-fuzz/ through the ordinary rules; each fuzzer is then one file linked with it.
FUZZ_OPT := -g -O1 -fsanitize=fuzzer-no-link,address,undefined
fuzz: test-deps
	@$(MAKE) --no-print-directory $(JOBS) BUILD=build-fuzz CC=clang OPT="$(FUZZ_OPT)" fuzz-run
.PHONY: fuzz-run
fuzz-run: $(FUZZERS)
	@for f in $(FUZZERS); do n=$$(basename $$f); mkdir -p build-fuzz/corpus-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s" >&2; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -rss_limit_mb=2048 build-fuzz/corpus-$$n tests/corpus/$${n#fuzz_} 2>&1 | grep -E "^(#[0-9]+.*(DONE|pulse)|==.*ERROR|SUMMARY)" | tail -n 2; done
build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libaudiocnn.a
	$(CC) $(CPPFLAGS) -std=c11 -D_POSIX_C_SOURCE=200809L -g -O1 -fsanitize=fuzzer,address,undefined $< build-fuzz/libaudiocnn.a $(LDLIBS) -o $@

bench-deps: test-deps
	@if [ ! -f .venv-pypi/.done ] || [ bench/requirements-pypi.txt -nt .venv-pypi/.done ]; then \
	  echo "make bench-deps: current PyPI torch into .venv-pypi (bench/requirements-pypi.txt)" >&2; \
	  ( python3 -m venv .venv-pypi && .venv-pypi/bin/pip install -q --disable-pip-version-check \
	    -r bench/requirements-pypi.txt && touch .venv-pypi/.done ) >&2 \
	  || echo "make bench-deps: warning: no PyPI torch; benchmarks compare with Debian's only" >&2; \
	fi

# bench/peak first: the FMA peak measured in the same run; the others print their GFLOP/s as a share of it
bench: build bench-deps
	@bench/peak/run.sh | tee $(BUILD)/peak.txt
	@peak=$$(tail -n 1 $(BUILD)/peak.txt | grep '^PEAK_GFLOPS=' || true); [ -z "$$peak" ] || export $$peak; \
	 PY=$(abspath $(VENV))/bin/python PYPI_PY=$(abspath .venv-pypi)/bin/python BIN=$(abspath $(BUILD)/bin) bench/mel/run.sh && \
	 PY=$(abspath $(VENV))/bin/python PYPI_PY=$(abspath .venv-pypi)/bin/python BIN=$(abspath $(BUILD)/bin) bench/train/run.sh && \
	 PY=$(abspath $(VENV))/bin/python PYPI_PY=$(abspath .venv-pypi)/bin/python BUILD=$(BUILD) bench/transfer/run.sh && \
	 PY=$(abspath $(VENV))/bin/python BUILD=$(BUILD) bench/gemm/run.sh && \
	 BIN=$(abspath $(BUILD)/bin) bench/scan/run.sh

install: build
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 man/*.5 $(DESTDIR)$(PREFIX)/share/man/man5/

clean:
	rm -rf build build-asan build-fuzz build-cuda build-simgpu
