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
PKGS       := openblas yaml-0.1 libxxhash libzip jansson
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
LIB_SRC    := $(sort $(shell find compiler runtime -name "*.c"))
CLI_SRC    := $(sort $(wildcard cli/*.c))
TEST_SRC   := $(sort $(shell find tests/unit -name "*.c"))

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o) $(GEN_C:$(BUILD)/gen/%.c=$(BUILD)/obj/gen/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_OBJ   := $(TEST_SRC:%.c=$(BUILD)/obj/%.o)

.PHONY: all deps test test-suite layering unit golden e2e demo bench fuzz install clean
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
# UndefinedBehaviorSanitizer in $(BUILD)-asan/ (build/ and build-asan/ by default).
test: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory test-suite BUILD=$(BUILD)
	@echo "== the same suite under AddressSanitizer + UndefinedBehaviorSanitizer =="
	@$(MAKE) --no-print-directory test-suite BUILD=$(BUILD)-asan SANITIZE=1

test-suite: $(BUILD)/surgery $(BUILD)/unit-tests
	@echo "== include layering =="
	@$(CHECK_LAYERING)
	@echo "== unit tests ($(BUILD)) =="
	OPENBLAS_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=1 $(BUILD)/unit-tests -j2
	@echo "== golden diagnostics ($(BUILD)) =="
	@sh tests/golden/run.sh $(BUILD)/surgery
	@echo "== end-to-end ($(BUILD)) =="
	@sh tests/e2e/run.sh $(BUILD)/surgery

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

FUZZ_SRC := $(filter-out runtime/%,$(LIB_SRC))
fuzz: $(DEPS_STAMP) $(BUILD)/gen/parser.c $(BUILD)/gen/scanner.c
	@mkdir -p $(BUILD)/fuzz
	clang -std=c11 -D_DEFAULT_SOURCE -g -O1 -I. -I$(BUILD)/gen $(PKG_CFLAGS) \
	  -fsanitize=fuzzer,address,undefined -o $(BUILD)/fuzz/fuzz-parser tests/fuzz/fuzz_parser.c \
	  $(LIB_SRC) $(BUILD)/gen/parser.c $(BUILD)/gen/scanner.c $(PKG_LIBS) -lm
	@mkdir -p $(BUILD)/fuzz/corpus && cp tests/scripts/*.surgery $(BUILD)/fuzz/corpus/
	$(BUILD)/fuzz/fuzz-parser -max_total_time=$${FUZZ_SECONDS:-60} $(BUILD)/fuzz/corpus

install: $(BUILD)/surgery
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 755 $(BUILD)/surgery $(DESTDIR)$(PREFIX)/bin/surgery

clean:
	rm -rf $(BUILD) $(BUILD)-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
