# ttdeploy - build, test, fuzz, bench, install.
#
#   make              build ./ttdeploy
#   make test         every suite (unit, e2e, corpus, dockerd); ends "N passed, N failed"
#   make test SAN=1   the same under ASan+UBSan (objects go to build-san/)
#   make fuzz         build libFuzzer targets with clang; FUZZ_SECONDS=N runs each
#   make bench        benchmarks (speed targets live here, never in tests)
#   make install PREFIX=/usr/local

PKGS     := yaml-0.1 libcurl libpq sqlite3 libgit2 jansson libcrypto
CC       ?= cc
PREFIX   ?= /usr/local
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iorchestrator -Iplans -Istate \
            $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm

ifeq ($(SAN),1)
BUILD    := build-san
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
BUILD    := build
endif

LIB_SRCS := orchestrator/tterr.c orchestrator/buf.c orchestrator/arena.c orchestrator/strv.c \
            orchestrator/vars.c orchestrator/suggest.c orchestrator/yamltree.c orchestrator/compose.c \
            orchestrator/compose_out.c orchestrator/dag.c orchestrator/sha256.c \
            orchestrator/engine.c orchestrator/container_spec.c orchestrator/progress.c \
            orchestrator/stack.c orchestrator/probe.c state/store.c plans/plan.c \
            orchestrator/gitref.c orchestrator/verify.c orchestrator/apply.c \
            orchestrator/pgdb.c orchestrator/backup.c orchestrator/matrix.c \
            orchestrator/rollback.c orchestrator/redeploy.c orchestrator/report.c
CLI_SRCS := orchestrator/main.c orchestrator/cli.c orchestrator/cmd_config.c \
            orchestrator/cmd_graph.c orchestrator/cmd_up.c orchestrator/cmd_down.c \
            orchestrator/cmd_apply.c orchestrator/cmd_recover.c orchestrator/cmd_history.c \
            orchestrator/cmd_show.c orchestrator/cmd_status.c orchestrator/cmd_unlock.c \
            orchestrator/cmd_rollback.c orchestrator/cmd_report.c
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 0

BIN := $(BUILD)/ttdeploy

.PHONY: all test fuzz bench install clean format example

all: $(BIN) ttdeploy

ttdeploy: $(BIN)
	@if [ "$(BUILD)" = build ]; then ln -sf $(BIN) ttdeploy; fi

$(BIN): $(LIB_OBJS) $(CLI_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/%.o: %.c $(wildcard orchestrator/*.h plans/*.h state/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS) -lcriterion

test: $(BIN) $(UNIT_BINS)
	@TTDEPLOY=$(CURDIR)/$(BIN) BUILD=$(BUILD) SAN=$(SAN) tests/run-all.sh $(UNIT_BINS)

build-fuzz/%: tests/fuzz/%.c $(LIB_SRCS)
	@mkdir -p build-fuzz
	clang -g -O1 -std=c11 -D_GNU_SOURCE -Iorchestrator -Iplans -Istate $(shell pkg-config --cflags $(PKGS)) \
	  -fsanitize=fuzzer,address,undefined -o $@ $< $(LIB_SRCS) $(LDLIBS)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); mkdir -p build-fuzz/corpus-$$name; \
	  if [ "$(FUZZ_SECONDS)" -gt 0 ]; then \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	      -print_final_stats=1 -artifact_prefix=build-fuzz/ build-fuzz/corpus-$$name tests/fuzz/corpus/$${name#fuzz_} \
	      $$(test -d ../shared/corpus/$${name#fuzz_} && echo ../shared/corpus/$${name#fuzz_}) \
	      || exit 1; \
	  else \
	    $$f -runs=0 tests/fuzz/corpus/$${name#fuzz_} || exit 1; \
	  fi; \
	done

$(BUILD)/bench/%: bench/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS)

bench: $(BUILD)/bench/bench_compose $(BUILD)/bench/bench_store ttdeploy
	$(BUILD)/bench/bench_compose 1000
	$(BUILD)/bench/bench_store $(BIN)
	bench/readiness.sh
	bench/backup.sh
	bench/rollback.py

# The bundled example: the private dockerd and images, then ttdeploy on the stack.
example: $(BIN) ttdeploy
	tests/infra.sh up
	./ttdeploy graph -f examples/tasktracker/compose.yml
	DOCKER_HOST=$$(tests/infra.sh env | cut -d= -f2-) ./ttdeploy apply examples/tasktracker/plan.yml
	./ttdeploy history --plan examples/tasktracker/plan.yml
	./ttdeploy show --plan examples/tasktracker/plan.yml \
	  $$(./ttdeploy history --plan examples/tasktracker/plan.yml --json --limit 1 | sed -n 's/.*"id": \([0-9]*\).*/\1/p')

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ttdeploy

format:
	clang-format -i orchestrator/*.[ch] tests/unit/*.c tests/fuzz/*.c bench/*.c

clean:
	rm -rf build build-san build-fuzz ttdeploy
