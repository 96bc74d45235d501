# Andon: one Makefile for the library, the worker, the tools and the tests.
#   make                  build everything into build/ (build-san/ with SANITIZE=1)
#   make test             unit tests, then integration tests (real redis-server + real Kafka)
#   make test SANITIZE=1  the same under AddressSanitizer + UBSan
#   make test-faults      only the fault tests on real Kafka (0110-0116; make test runs them too)
#   make integration-cluster  the four APIs' suites (a fast subset) on a Redis Cluster (make test runs it)
#   make bench            throughput and latency benchmark (real Kafka)
#   make run              local redis-server + real Kafka + worker in the foreground
#   KAFKA=dev             with test, bench or run: andon-devkafka (librdkafka's mock) instead of Kafka
#   make install PREFIX=/usr/local  programs, man pages, systemd units (DESTDIR, BINDIR, MANDIR, UNITDIR)
#   make fuzz             libFuzzer targets (clang, ASan + UBSan, into build-fuzz/) for FUZZ_SECONDS each
#   make fuzz-smoke       the same for 60 seconds each (CI)

PKGS    := rdkafka hiredis msgpack jansson libmicrohttpd libsystemd libcrypto
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
UNITDIR ?= $(PREFIX)/lib/systemd/system
KAFKA   ?= real
CC      ?= cc
OPT     ?= -O2 -g

ifeq ($(SANITIZE),1)
B       := build-san
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
B       := build
SANFLAGS :=
endif

WFLAGS  := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
CFLAGS  := $(WFLAGS) $(OPT) $(SANFLAGS) -Ilib -Iworker -Itests $(shell pkg-config --cflags $(PKGS))
LDFLAGS := $(SANFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lpthread -lm

LIB_SRC    := $(wildcard lib/*.c)
WORKER_SRC := $(filter-out worker/main.c worker/test_ops.c,$(wildcard worker/*.c))
LUA_SRC    := $(sort $(wildcard worker/lua/*.lua))
UNIT_SRC   := $(wildcard tests/unit/*.c)
INTEG_SRC  := $(wildcard tests/integration/*.c)

LIB        := $(B)/libandon.a
WORKER_LIB := $(B)/libandon-worker.a
BINS       := $(B)/bin/andon-worker $(B)/bin/andon-send $(B)/bin/andon-replay $(B)/bin/andon-tail \
              $(B)/bin/andon-callback $(B)/bin/andon-devkafka $(B)/bin/andon-keys $(B)/bin/andon-bulk \
              $(B)/bin/andon-inspect
UNIT_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
INTEG_BINS := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(INTEG_SRC))
BENCH_BINS := $(B)/tests/bench-engine $(B)/tests/bench $(B)/tests/bench-handshake
TEST_WORKER := $(B)/tests/andon-worker-test
FAULT_BINS := $(filter $(B)/tests/integration/011%,$(INTEG_BINS))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

.PHONY: all test test-build test-faults unit integration integration-cluster install-test bench run install clean style \
	style-check fuzz fuzz-smoke fuzz-build
all: $(BINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The Redis function library is the Lua files joined in name order and embedded as one C string.
$(B)/gen/lua_bundle.c: $(LUA_SRC) scripts/embed.sh
	@mkdir -p $(dir $@)
	sh scripts/embed.sh andon_lua_bundle $(LUA_SRC) > $@
$(B)/obj/gen/lua_bundle.o: $(B)/gen/lua_bundle.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIB): $(call obj,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^
$(WORKER_LIB): $(call obj,$(WORKER_SRC)) $(B)/obj/gen/lua_bundle.o
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/bin/andon-worker: $(call obj,worker/main.c) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-send: $(call obj,producers/andon-send.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-replay: $(call obj,producers/andon-replay.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-bulk: $(call obj,producers/andon-bulk.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-inspect: $(call obj,consumers/andon-inspect.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
# andon-keys checks policies and reads andon.conf with the worker's own modules (authz, config).
$(B)/bin/andon-keys: $(call obj,producers/andon-keys.c) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-tail: $(call obj,consumers/andon-tail.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-callback: $(call obj,consumers/andon-callback.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-devkafka: $(call obj,devkafka/andon-devkafka.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The test worker: the worker's sources built again with -DANDON_TEST_OPS (test-only ops such as Test.Crash,
# worker/test_ops.c) into obj-test/; nothing of it goes into bin/andon-worker.
$(B)/obj-test/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DANDON_TEST_OPS -MMD -MP -c $< -o $@
$(TEST_WORKER): $(patsubst %.c,$(B)/obj-test/%.o,worker/main.c worker/test_ops.c $(WORKER_SRC)) \
		$(B)/obj/gen/lua_bundle.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests: unit tests link the worker's modules (no main) and the library; integration tests add the harness.
# tests/prom.c, the strict parser of the metrics text format, serves the integration tests and 0009.
HARNESS := $(call obj,$(wildcard tests/harness*.c) tests/prom.c)
$(B)/tests/unit/0009-metrics: $(call obj,tests/prom.c)
$(B)/tests/unit/%: $(call obj,tests/unit/%.c) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/integration/%: $(call obj,tests/integration/%.c) $(HARNESS) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(BENCH_BINS): $(B)/tests/%: $(B)/obj/tests/%.o $(HARNESS) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka # the harness holds the fault tests' cmocka runner

# The four APIs' suites (a fast subset: one or two binaries each) again on a Redis Cluster of 3 primaries and
# 3 replicas started by the harness; 0601-0603 (cluster and Sentinel faults) run in integration.
CLUSTER_BINS := $(addprefix $(B)/tests/integration/,0101-sfn_stop 0201-sagemaker_stop 0301-cflow_stop \
		  0401-swf_cancel 0402-swf_terminate)

# Under the sanitizers the suites run once, on one Redis, without signatures: the reruns go through the same
# code again (the router, the signature checks and the workers' own signing have tests of their own, 0601-0604
# and 0801-0802, which do run), and CI has a time budget.
ifeq ($(SANITIZE),1)
test: unit integration install-test
else
test: unit integration integration-cluster install-test
endif
test-build: $(BINS) $(UNIT_BINS) $(INTEG_BINS) $(BENCH_BINS) $(TEST_WORKER)
unit: $(UNIT_BINS)
	sh tests/run-unit.sh $(UNIT_BINS)
# The suites of every API run once more with security.auth = required (every request signed).
AUTH_RERUN := $(addprefix $(B)/tests/integration/,0101-sfn_stop 0105-tools 0201-sagemaker_stop 0202-sagemaker_handlers \
	      0301-cflow_stop 0401-swf_cancel 0403-swf_tree)
ifeq ($(SANITIZE),1)
AUTH_RERUN :=
endif
integration: $(BINS) $(INTEG_BINS) $(TEST_WORKER)
	ANDON_KAFKA=$(KAFKA) ANDON_AUTH_RERUN="$(AUTH_RERUN)" sh tests/run-integration.sh $(B) $(INTEG_BINS)
integration-cluster: $(BINS) $(CLUSTER_BINS) $(TEST_WORKER)
	ANDON_REDIS=cluster ANDON_KAFKA=$(KAFKA) sh tests/run-integration.sh $(B) $(CLUSTER_BINS)
# make install into a throwaway DESTDIR, then what landed there: programs, man pages, units, example.
install-test: $(BINS)
	MAKE="$(MAKE)" sh tests/run-install.sh SANITIZE=$(SANITIZE)
test-faults: $(BINS) $(FAULT_BINS)
	ANDON_KAFKA=$(KAFKA) sh tests/run-integration.sh $(B) $(FAULT_BINS)
bench: $(BINS) $(BENCH_BINS)
	ANDON_KAFKA=$(KAFKA) sh tests/run-integration.sh $(B) $(BENCH_BINS)
run: $(BINS)
	ANDON_KAFKA=$(KAFKA) sh scripts/run-dev.sh $(B)

# Programs, the example settings, the man pages (docs/man) and the systemd units (their @BINDIR@ set).
MAN1  := $(wildcard docs/man/*.1)
MAN5  := $(wildcard docs/man/*.5)
UNITS := config/andon-worker.service config/andon-callback@.service
install: $(BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/share/andon $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR)
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 644 config/andon.conf $(DESTDIR)$(PREFIX)/share/andon/andon.conf.example
	install -m 644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	for u in $(UNITS); do \
		sed 's|@BINDIR@|$(BINDIR)|g' $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && \
		chmod 644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done

STYLE_SRC = $(wildcard lib/*.[ch] worker/*.[ch] producers/*.c consumers/*.c devkafka/*.c tests/*.[ch] tests/*/*.c \
	    tests/fuzz/*.h)
style:
	clang-format -i $(STYLE_SRC)
style-check:
	clang-format --dry-run --Werror $(STYLE_SRC)

# Fuzzing (tests/fuzz/README.md): libFuzzer targets built by clang into build-fuzz/, with every library and
# worker object instrumented for coverage, AddressSanitizer and UBSan. The seeds are JSON in git; seedgen
# turns them into msgpack (and checks that each is a valid request, and that every op has one).
F            := build-fuzz
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 300
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := $(WFLAGS) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Ilib -Iworker -Itests -Itests/fuzz \
                -I$(F)/gen $(shell pkg-config --cflags $(PKGS))
FUZZ_TARGETS := $(F)/bin/fuzz-request $(F)/bin/fuzz-json $(F)/bin/fuzz-sign
FUZZ_SEEDS   := $(sort $(wildcard tests/fuzz/seeds/*.jsonl))
FUZZ_LIBS    := $(F)/libandon-worker.a $(F)/libandon.a $(F)/obj/gen/lua_bundle.o
fobj = $(patsubst %.c,$(F)/obj/%.o,$(1))

$(F)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@
# The mutator's words are the dictionary's plain ones (no escapes), as C string literals.
$(F)/gen/dict-words.inc: tests/fuzz/request.dict
	@mkdir -p $(dir $@)
	sed -n 's/^\("[^"\\]*"\)$$/\1,/p' $< > $@
$(F)/obj/tests/fuzz/mutate.o: $(F)/gen/dict-words.inc
$(F)/libandon.a: $(call fobj,$(LIB_SRC))
	$(AR) rcs $@ $^
$(F)/libandon-worker.a: $(call fobj,$(WORKER_SRC))
	$(AR) rcs $@ $^
# fuzz-request-plain is fuzz-request without the custom mutator, to compare the two.
$(F)/bin/fuzz-request: $(call fobj,tests/fuzz/fuzz-request.c tests/fuzz/mutate.c) $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
$(F)/bin/fuzz-request-plain: $(call fobj,tests/fuzz/fuzz-request.c) $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
$(F)/bin/fuzz-json: $(call fobj,tests/fuzz/fuzz-json.c tests/fuzz/mutate.c) $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
# The worker's key caches (auth.c, kms.c) read Redis through the engine, so the targets link the functions too.
$(F)/obj/gen/lua_bundle.o: $(B)/gen/lua_bundle.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@
$(F)/bin/fuzz-sign: $(call fobj,tests/fuzz/fuzz-sign.c) $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)
$(F)/bin/seedgen: $(call fobj,tests/fuzz/seedgen.c) $(FUZZ_LIBS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -o $@ $^ $(LDLIBS)
$(F)/seeds/.done: $(F)/bin/seedgen $(FUZZ_SEEDS)
	rm -rf $(F)/seeds
	$(F)/bin/seedgen $(F)/seeds $(FUZZ_SEEDS)
	touch $@

fuzz-build: $(FUZZ_TARGETS) $(F)/bin/fuzz-request-plain $(F)/seeds/.done
fuzz: fuzz-build
	sh tests/run-fuzz.sh $(F) $(FUZZ_SECONDS) $(FUZZ_TARGETS)
fuzz-smoke: fuzz-build
	sh tests/run-fuzz.sh $(F) 60 $(FUZZ_TARGETS)

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(B) $(F) -name '*.d' 2>/dev/null)
