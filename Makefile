# Makefile: builds build/surgery and runs its tests (plain and sanitized), the demo, the
# benchmarks and the fuzzer. Missing Debian packages are installed by tools/ensure-deps.sh.

BUILD      ?= build
SANITIZE   ?=
PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
ifeq ($(origin CC),default)
CC := cc
endif

DEPS_STAMP := $(BUILD)/.deps-ok
PKGS       := openblas yaml-0.1 libxxhash libpng libjpeg libprotobuf-c libzip jansson zlib
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CRIT_CFLAGS = $(shell pkg-config --cflags criterion 2>/dev/null)
CRIT_LIBS   = $(shell pkg-config --libs criterion 2>/dev/null)

OPT        ?= -O2
WARN       := -Wall -Wextra -Werror
CFLAGS_ALL  = -std=c11 -D_DEFAULT_SOURCE $(OPT) -g $(WARN) -MMD -MP -I. -I$(BUILD)/gen $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL  = $(PKG_LIBS) -lm -pthread $(LDLIBS)
ifneq ($(SANITIZE),)
OPT        := -O1
CFLAGS_ALL += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS    += -fsanitize=address,undefined
endif

GRAMMAR_Y  := grammar/parser.y
GRAMMAR_L  := grammar/scanner.l
HAVE_GRAMMAR := $(and $(wildcard $(GRAMMAR_Y)),$(wildcard $(GRAMMAR_L)))
GEN_C      := $(if $(HAVE_GRAMMAR),$(BUILD)/gen/parser.c $(BUILD)/gen/scanner.c)
GEN_H      := $(if $(HAVE_GRAMMAR),$(BUILD)/gen/parser.h $(BUILD)/gen/scanner.h)
# The ONNX reader and writer parse with the C code protoc-c generates from the onnx.proto that
# Debian's libonnx-dev ships.
ONNX_PROTO := /usr/include/onnx/onnx.proto
GEN_C      += $(BUILD)/gen/onnx.pb-c.c
GEN_H      += $(BUILD)/gen/onnx.pb-c.h
LIB_SRC    := $(sort $(shell find compiler runtime -name "*.c"))
CLI_SRC    := $(sort $(wildcard cli/*.c))
TEST_SRC   := $(sort $(shell find tests/unit -name "*.c"))

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_C:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ   := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all deps test test-suite onnx-node layering unit golden e2e demo bench fuzz fuzz-smoke fuzz-run bad-input install clean
.DEFAULT_GOAL := all

all: $(BUILD)/surgery

deps: $(DEPS_STAMP)
$(DEPS_STAMP): tools/ensure-deps.sh
	@sh tools/ensure-deps.sh
	@mkdir -p $(BUILD) && touch $@

# Generated scanner and parser live in the build folder, never in the tree.
$(BUILD)/gen/parser.c $(BUILD)/gen/parser.h &: $(GRAMMAR_Y) | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/gen
	bison -Wall -Werror -d -o $(BUILD)/gen/parser.c $<
$(BUILD)/gen/scanner.c $(BUILD)/gen/scanner.h &: $(GRAMMAR_L) $(BUILD)/gen/parser.h | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/gen
	flex --header-file=$(BUILD)/gen/scanner.h -o $(BUILD)/gen/scanner.c $<

# On a fresh machine the .proto arrives with libonnx-dev, which the dependency check installs.
$(ONNX_PROTO): | $(DEPS_STAMP)
	@test -f $@ || { echo "$@ is missing: libonnx-dev is not installed" >&2; exit 1; }
$(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h &: $(ONNX_PROTO) | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(BUILD)/gen $(ONNX_PROTO)

# protoc-c's code casts between its descriptor types and leaves parameters unused.
$(BUILD)/obj/gen/onnx.pb-c.o: $(BUILD)/gen/onnx.pb-c.c $(BUILD)/gen/onnx.pb-c.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-unused-parameter -Wno-missing-field-initializers -c -o $@ $<

$(BUILD)/obj/gen/%.o: $(BUILD)/gen/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Wno-unused-function -Wno-sign-compare -Wno-unused-parameter -c -o $@ $<

# Every object may include the generated headers.
$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c | $(DEPS_STAMP) $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(CRIT_CFLAGS) -c -o $@ $<

$(BUILD)/surgery: $(LIB_OBJ) $(CLI_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/unit-tests: $(LIB_OBJ) $(TEST_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(LDLIBS_ALL)

# make test: the whole suite, then the same suite rebuilt with AddressSanitizer and
# UndefinedBehaviorSanitizer in $(BUILD)-asan/ (build/ and build-asan/ by default), then every
# fuzz target for a few seconds.
test: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory test-suite BUILD=$(BUILD)
	@echo "== the same suite under AddressSanitizer + UndefinedBehaviorSanitizer =="
	@$(MAKE) --no-print-directory test-suite BUILD=$(BUILD)-asan SANITIZE=1
	@echo "== fuzz targets, a few seconds each =="
	@$(MAKE) --no-print-directory fuzz-smoke

test-suite: $(BUILD)/surgery $(BUILD)/unit-tests $(BUILD)/onnx-node-runner
	@echo "== include layering =="
	@$(CHECK_LAYERING)
	@echo "== unit tests ($(BUILD)) =="
	OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 $(BUILD)/unit-tests -j2
	@echo "== golden diagnostics ($(BUILD)) =="
	@sh tests/golden/run.sh $(BUILD)/surgery
	@echo "== end-to-end ($(BUILD)) =="
	@sh tests/e2e/run.sh $(BUILD)/surgery
	@echo "== bad input ($(BUILD)) =="
	@$(BAD_INPUT)
	@echo "== ONNX backend node tests ($(BUILD)) =="
	@$(ONNX_NODE)

# The bad-input corpus (tests/bad-input/, written by tools/gen-bad-input.sh): every case's exit
# status and message, no crash, hang or leftover file, the input unchanged.
BAD_INPUT := sh tests/bad-input/run.sh $(BUILD)/surgery
bad-input: $(BUILD)/surgery
	@$(BAD_INPUT)

# ONNX's backend test cases (Debian's libonnx-testdata) through the ONNX reader and predict:
# every case whose operators map runs and must match; the counts are printed.
ONNX_NODE := sh tests/onnx-node/run.sh $(BUILD)/onnx-node-runner
$(BUILD)/onnx-node-runner: tests/onnx-node/runner.c $(LIB_OBJ) | $(GEN_H)
	$(CC) $(CFLAGS_ALL) -Wno-format-truncation $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS_ALL)
onnx-node: $(BUILD)/onnx-node-runner
	@$(ONNX_NODE)

# The include lines follow the layers of tools/layers.txt (docs/architecture.md).
CHECK_LAYERING := sh tools/check-layering.sh && sh tools/check-layering.sh --self-check
layering:
	@$(CHECK_LAYERING)

demo: $(BUILD)/surgery
	@sh examples/demo.sh $(BUILD)/surgery

$(BUILD)/bench-runtime: bench/bench_runtime.c $(LIB_OBJ)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LDLIBS_ALL)

bench: $(BUILD)/surgery $(BUILD)/bench-runtime
	@sh bench/run.sh $(BUILD)/surgery

# make fuzz: each tests/fuzz/fuzz_NAME.c is a libFuzzer target (clang, with AddressSanitizer and
# UndefinedBehaviorSanitizer; objects in $(BUILD)-fuzz/) run FUZZ_SECONDS from its seed corpus
# tests/fuzz/corpus/NAME/. make test runs each for a few seconds, or says why it cannot.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(filter-out common,$(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
ifneq ($(FUZZ),)
CC         := clang
OPT        := -O1
CFLAGS_ALL += -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif

fuzz: $(DEPS_STAMP)
	@sh tools/ensure-deps.sh --fuzz
	@$(MAKE) --no-print-directory fuzz-run BUILD=$(BUILD)-fuzz FUZZ=1

fuzz-smoke: $(DEPS_STAMP)
	@if sh tests/fuzz/run.sh --available; then \
	  $(MAKE) --no-print-directory fuzz-run BUILD=$(BUILD)-fuzz FUZZ=1 FUZZ_SECONDS=3; fi

fuzz-run: $(FUZZ_TARGETS:%=$(BUILD)/fuzz-%)
	@sh tests/fuzz/run.sh $(BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

.SECONDARY: $(FUZZ_TARGETS:%=$(BUILD)/obj/tests/fuzz/fuzz_%.o) $(BUILD)/obj/tests/fuzz/fuzz_common.o
$(BUILD)/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(BUILD)/obj/tests/fuzz/fuzz_common.o $(LIB_OBJ)
	$(CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS_ALL)

install: $(BUILD)/surgery
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/surgery $(DESTDIR)$(PREFIX)/bin/surgery

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
