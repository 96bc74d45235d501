# Andon: one Makefile for the library, the worker, the tools and the tests.
#   make                  build everything into build/ (build-san/ with SANITIZE=1)
#   make test             unit tests, then integration tests (real redis-server + real Kafka)
#   make test SANITIZE=1  the same under AddressSanitizer + UBSan
#   make test-faults      only the fault tests on real Kafka (0110-0114; make test runs them too)
#   make bench            throughput and latency benchmark (real Kafka)
#   make run              local redis-server + real Kafka + worker in the foreground
#   KAFKA=dev             with test, bench or run: andon-devkafka (librdkafka's mock) instead of Kafka
#   make install PREFIX=/usr/local

PKGS    := rdkafka hiredis msgpack jansson
PREFIX  ?= /usr/local
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

CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           $(SANFLAGS) -Ilib -Iworker -Itests $(shell pkg-config --cflags $(PKGS))
LDFLAGS := $(SANFLAGS)
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lpthread -lm

LIB_SRC    := $(wildcard lib/*.c)
WORKER_SRC := $(filter-out worker/main.c,$(wildcard worker/*.c))
LUA_SRC    := $(sort $(wildcard worker/lua/*.lua))
UNIT_SRC   := $(wildcard tests/unit/*.c)
INTEG_SRC  := $(wildcard tests/integration/*.c)

LIB        := $(B)/libandon.a
WORKER_LIB := $(B)/libandon-worker.a
BINS       := $(B)/bin/andon-worker $(B)/bin/andon-send $(B)/bin/andon-replay $(B)/bin/andon-tail \
              $(B)/bin/andon-callback $(B)/bin/andon-devkafka
UNIT_BINS  := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
INTEG_BINS := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(INTEG_SRC))
BENCH_BINS := $(B)/tests/bench $(B)/tests/bench-handshake
FAULT_BINS := $(filter $(B)/tests/integration/011%,$(INTEG_BINS))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

.PHONY: all test test-build test-faults unit integration bench run install clean style style-check
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
$(B)/bin/andon-tail: $(call obj,consumers/andon-tail.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-callback: $(call obj,consumers/andon-callback.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/andon-devkafka: $(call obj,devkafka/andon-devkafka.c) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Tests: unit tests link the worker's modules (no main) and the library; integration tests add the harness.
HARNESS := $(call obj,$(wildcard tests/harness*.c))
$(B)/tests/unit/%: $(call obj,tests/unit/%.c) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(B)/tests/integration/%: $(call obj,tests/integration/%.c) $(HARNESS) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka
$(BENCH_BINS): $(B)/tests/%: $(B)/obj/tests/%.o $(HARNESS) $(WORKER_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test: unit integration
test-build: $(BINS) $(UNIT_BINS) $(INTEG_BINS) $(BENCH_BINS)
unit: $(UNIT_BINS)
	sh tests/run-unit.sh $(UNIT_BINS)
integration: $(BINS) $(INTEG_BINS)
	ANDON_KAFKA=$(KAFKA) sh tests/run-integration.sh $(B) $(INTEG_BINS)
test-faults: $(BINS) $(FAULT_BINS)
	ANDON_KAFKA=$(KAFKA) sh tests/run-integration.sh $(B) $(FAULT_BINS)
bench: $(BINS) $(BENCH_BINS)
	ANDON_KAFKA=$(KAFKA) sh tests/run-integration.sh $(B) $(BENCH_BINS)
run: $(BINS)
	ANDON_KAFKA=$(KAFKA) sh scripts/run-dev.sh $(B)

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/andon
	install -m 755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 644 config/andon.conf $(DESTDIR)$(PREFIX)/share/andon/andon.conf.example

STYLE_SRC = $(wildcard lib/*.[ch] worker/*.[ch] producers/*.c consumers/*.c devkafka/*.c tests/*.[ch] tests/*/*.c)
style:
	clang-format -i $(STYLE_SRC)
style-check:
	clang-format --dry-run --Werror $(STYLE_SRC)

clean:
	rm -rf build build-san

-include $(shell find $(B) -name '*.d' 2>/dev/null)
