# ttdeploy - build, test, fuzz, bench, install.
#
#   make              build ./ttdeploy
#   make test         every suite (layers, unit, fuzz-short, e2e); ends "N passed, N failed"
#   make test SAN=1   the same under ASan+UBSan (objects go to build-san/)
#   make fuzz         build libFuzzer targets with clang; FUZZ_SECONDS=N runs each
#   make fuzz-short   each target replays its corpus, then fuzzes 20 s (part of make test)
#   make bench        benchmarks (speed targets live here, never in tests)
#   make install PREFIX=/usr/local
#
# Sources are found by wildcard, one folder per layer.  Each folder is
# compiled with the include paths of its own layer and the layers below it
# only (LAYER_*), so an include that points up does not compile;
# tests/static/test_layers.py checks the rest (library headers, cycles,
# file sizes) and names the rule a file breaks.

PKGS     := yaml-0.1 libcurl libpq sqlite3 libgit2 jansson
CC       ?= cc
PREFIX   ?= /usr/local
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -MMD -MP \
            $(shell pkg-config --cflags $(PKGS))
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm

ifeq ($(SAN),1)
BUILD    := build-san
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
else
BUILD    := build
endif

# The layers, lowest first, and what each may include (itself and below).
LAYERS         := base compose adapters docker plans state deploy cli
LAYER_base     := base
LAYER_compose  := compose base
LAYER_adapters := adapters base
LAYER_docker   := docker compose adapters base
LAYER_plans    := plans compose base
LAYER_state    := state base
LAYER_deploy   := deploy docker plans state compose adapters base
LAYER_cli      := cli deploy docker plans state compose adapters base
layer_dir       = $(if $(filter plans state,$(1)),$(1),orchestrator/$(1))
layer_of        = $(lastword $(subst /, ,$(dir $(1))))
layer_incs      = $(foreach l,$(LAYER_$(1)),-I$(call layer_dir,$(l)))
ALL_INCS       := $(call layer_incs,cli)

LIB_SRCS := $(foreach l,$(filter-out cli,$(LAYERS)),$(wildcard $(call layer_dir,$(l))/*.c))
CLI_SRCS := $(filter-out orchestrator/cli/light.c,$(wildcard orchestrator/cli/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
FUZZ_SECONDS ?= 0
FUZZ_SHORT ?= 20

# Two binaries (orchestrator/cli/light.c says why): the full one, and the
# light one people run, which executes the full one for all but --version
# and the commands that only read the store.  The light one links only
# what those need.
FULL := $(BUILD)/ttdeploy-full
BIN := $(BUILD)/ttdeploy
LIGHT_PKGS := yaml-0.1 sqlite3 jansson
LIGHT_CMDS := cli cli_options cli_ci cmd_history cmd_show cmd_report cmd_timeline cmd_audit light
LIGHT_DEPLOY := release_load report report_junit timeline timeline_svg markup
LIGHT_OBJS := $(LIGHT_CMDS:%=$(BUILD)/orchestrator/cli/%.o) \
	$(LIGHT_DEPLOY:%=$(BUILD)/orchestrator/deploy/%.o) \
	$(filter $(BUILD)/orchestrator/base/% $(BUILD)/orchestrator/compose/% $(BUILD)/plans/% \
	  $(BUILD)/state/%,$(LIB_OBJS))

.PHONY: all test fuzz fuzz-short bench install clean format example demo layers-graph

all: $(BIN) ttdeploy

ttdeploy: $(BIN)
	@if [ "$(BUILD)" = build ]; then ln -sf $(BIN) ttdeploy; fi

$(FULL): $(LIB_OBJS) $(CLI_OBJS)
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(LDLIBS)

$(BIN): $(LIGHT_OBJS) | $(FULL)
	$(CC) $(LDFLAGS) -Wl,--as-needed -o $@ $^ $(shell pkg-config --libs $(LIGHT_PKGS)) -lm

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call layer_incs,$(call layer_of,$<)) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INCS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS) -lcriterion

test: $(BIN) $(UNIT_BINS) $(FUZZ_BINS)
	@TTDEPLOY=$(CURDIR)/$(BIN) BUILD=$(BUILD) SAN=$(SAN) FUZZ_BINS="$(FUZZ_BINS)" \
	  FUZZ_SHORT=$(FUZZ_SHORT) tests/run-all.sh $(UNIT_BINS)

# The fuzz targets: the library compiled once with clang for coverage
# (fuzzer-no-link) under ASan+UBSan, each target linked against it.
FUZZ_CFLAGS := -g -O1 -std=c11 -D_GNU_SOURCE $(ALL_INCS) $(shell pkg-config --cflags $(PKGS)) \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_OBJS := $(LIB_SRCS:%.c=build-fuzz/obj/%.o)
# Kept between runs (make would delete them as intermediate files of the pattern rule).
.SECONDARY: $(FUZZ_OBJS)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC (fuzz) $<"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c -o $@ $<

build-fuzz/%: tests/fuzz/%.c $(FUZZ_OBJS)
	@mkdir -p build-fuzz
	@echo "  LINK (fuzz) $@"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do \
	  name=$$(basename $$f); mkdir -p build-fuzz/corpus-$$name; \
	  if [ "$(FUZZ_SECONDS)" -gt 0 ]; then \
	    $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
	      $$(test -f tests/fuzz/$${name#fuzz_}.dict && echo -dict=tests/fuzz/$${name#fuzz_}.dict) \
	      -print_final_stats=1 -artifact_prefix=build-fuzz/ build-fuzz/corpus-$$name tests/fuzz/corpus/$${name#fuzz_} \
	      $$(test -d ../shared/corpus/$${name#fuzz_} && echo ../shared/corpus/$${name#fuzz_}) \
	      || exit 1; \
	  else \
	    $$f -runs=0 tests/fuzz/corpus/$${name#fuzz_} || exit 1; \
	  fi; \
	done

# Every target replays its corpus, then fuzzes FUZZ_SHORT seconds (CI: part of make test).
fuzz-short: $(FUZZ_BINS)
	@FUZZ_SHORT=$(FUZZ_SHORT) tests/fuzz-short.sh $(FUZZ_BINS)

-include $(FUZZ_OBJS:.o=.d)

$(BUILD)/bench/%: bench/%.c $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ALL_INCS) $(LDFLAGS) -o $@ $< $(LIB_OBJS) $(LDLIBS)

bench: $(BUILD)/bench/bench_compose $(BUILD)/bench/bench_store ttdeploy
	$(BUILD)/bench/bench_compose 1000
	$(BUILD)/bench/bench_store $(BIN)
	TTDEPLOY=$(CURDIR)/$(BIN) bench/startup.py
	bench/readiness.sh
	bench/backup.sh
	bench/rollback.py
	bench/bluegreen.py
	bench/swarm.sh

# The bundled example (examples/tasktracker), on the private dockerd: its api
# images built, then a fresh stack and store (the example's own containers,
# volume, store and backups are removed first, so each run tells the same
# story): v1.3.0, then v1.4.0, whose deployment shows all six phases with a
# verified backup and an Alembic-style migration that succeeded.
EXAMPLE = examples/tasktracker
EXAMPLE_ENV = DOCKER_HOST=$$(tests/infra.sh env | cut -d= -f2-)
EXAMPLE_LAST = $$(./ttdeploy history --plan $(EXAMPLE)/plan.yml --json --limit 1 | sed -n 's/.*"id": \([0-9]*\).*/\1/p')
example: $(BIN) ttdeploy
	tests/infra.sh up
	$(EXAMPLE_ENV) $(EXAMPLE)/demo/build-images.sh
	./ttdeploy graph -f $(EXAMPLE)/compose.yml
	$(EXAMPLE_ENV) ./ttdeploy down -f $(EXAMPLE)/compose.yml -v --progress quiet
	rm -rf $(EXAMPLE)/.ttdeploy $(EXAMPLE)/backups
	$(EXAMPLE_ENV) RELEASE=v1.3.0 API_IMAGE=tasktracker/api:v1.3.0 ./ttdeploy apply --progress plain $(EXAMPLE)/plan.yml
	$(EXAMPLE_ENV) RELEASE=v1.4.0 API_IMAGE=tasktracker/api:v1.4.0 ./ttdeploy apply --progress plain $(EXAMPLE)/plan.yml
	./ttdeploy history --plan $(EXAMPLE)/plan.yml
	./ttdeploy show --plan $(EXAMPLE)/plan.yml $(EXAMPLE_LAST) | tee $(BUILD)/example-show.txt
	awk '$$2 == "backup" && $$5 == "ok" { b = 1 } $$2 == "migrate" && $$5 == "ok" { m = 1 } \
	  END { exit !(b && m) }' $(BUILD)/example-show.txt
	@echo "example: all six phases ran; the backup and the migration succeeded"

# After the example: v1.5.0, whose migration 0003 loses the done tasks.
# Verify's tasks-kept check catches it, the plan's matrix rolls the images
# and the schema back and restores the backup; then the audit of it.
demo: example
	$(EXAMPLE_ENV) RELEASE=v1.5.0 API_IMAGE=tasktracker/api:v1.5.0 ./ttdeploy apply --progress plain $(EXAMPLE)/plan.yml; \
	  test $$? -eq 1 || { echo "demo: v1.5.0 should have failed and been rolled back"; exit 1; }
	./ttdeploy history --plan $(EXAMPLE)/plan.yml
	./ttdeploy history --plan $(EXAMPLE)/plan.yml --json --limit 1 | grep -q '"status": "rolled_back"'
	./ttdeploy report --plan $(EXAMPLE)/plan.yml $(EXAMPLE_LAST)
	-./ttdeploy timeline --plan $(EXAMPLE)/plan.yml --format text $(EXAMPLE_LAST)

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/ttdeploy \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man5
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/ttdeploy
	install -m 0755 $(FULL) $(DESTDIR)$(PREFIX)/libexec/ttdeploy/ttdeploy-full
	install -m 0644 man/ttdeploy.1 $(DESTDIR)$(PREFIX)/share/man/man1/ttdeploy.1
	install -m 0644 man/ttdeploy-plan.5 $(DESTDIR)$(PREFIX)/share/man/man5/ttdeploy-plan.5

format:
	clang-format -i orchestrator/*/*.[ch] plans/*.[ch] state/*.[ch] tests/unit/*.c tests/fuzz/*.c bench/*.c

clean:
	rm -rf build build-san build-fuzz ttdeploy

# The include graph between folders, as docs/layers.dot (render: dot -Tsvg).
layers-graph:
	python3 tests/static/test_layers.py --dot > docs/layers.dot
-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(UNIT_BINS:=.d) $(BUILD)/orchestrator/cli/light.d
