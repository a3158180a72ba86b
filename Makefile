# pingfold — one entry point. See README.md.
#   make          build everything
#   make deps     install missing Debian packages (root)
#   make test     deps + build + every test
#   make bench    benchmarks (ratios against a baseline measured in the same run)
#   make fuzz     libFuzzer targets (FUZZ_SECONDS=N)
#   make SANITIZE=1 test   everything built with ASan+UBSan (LeakSanitizer on)
#                 into build-san/, and the whole suite run on it
# V=1 shows commands. CFLAGS and LDFLAGS from the environment are honoured.

.DELETE_ON_ERROR:
.SUFFIXES:

Q := $(if $(V),,@)
msg = $(if $(V),,@printf '  %-8s %s\n' '$(1)' '$(2)';)

ifeq ($(SANITIZE),1)
OUT      ?= build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined \
	     -fno-omit-frame-pointer
endif
OUT      ?= build
CC       ?= cc
CLANG    ?= clang
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
	    -I$(OUT) -I. -MMD -MP -D_GNU_SOURCE $(SAN_FLAGS)
LDFLAGS  += $(SAN_FLAGS)
LDLIBS_BPF := -lbpf -lelf -lz
# everything of common/ (tests, tools, benchmarks); nng has no pkg-config file
LDLIBS_COMMON = $(LIBS_PROMRW) $(LIBS_NET) $(LIBS_CFG) $(LIBS_WIRE) $(LIBS_CORE)
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) \
	      -Wall -Werror -I$(OUT) -I.

# common/ by what it needs, so that a binary links only what it uses:
# core (no library), wire (no library: its own MessagePack writer and
# reader), config (json-c), net (nng). msgpack-c: wire_test's second packer.
COMMON_CORE := cfgerr hblob hist jsonw log prefix ring sys utf8
COMMON_WIRE := wire
COMMON_CFG  := cfgfile custlist options
COMMON_NET  := publisher replay_client tls
common_objs = $(foreach m,$(1),$(OUT)/common/$(m).o)
CORE_OBJ   := $(call common_objs,$(COMMON_CORE))
WIRE_OBJ   := $(call common_objs,$(COMMON_WIRE))
CFG_OBJ    := $(call common_objs,$(COMMON_CFG))
NET_OBJ    := $(call common_objs,$(COMMON_NET))
COMMON_OBJ := $(CORE_OBJ) $(WIRE_OBJ) $(CFG_OBJ) $(NET_OBJ)
# one archive per group: a binary takes from it only the members it uses
CORE_LIB   := $(OUT)/common/libpf_core.a
WIRE_LIB   := $(OUT)/common/libpf_wire.a
CFG_LIB    := $(OUT)/common/libpf_cfg.a
NET_LIB    := $(OUT)/common/libpf_net.a
LIBS_CORE  := -lm
LIBS_WIRE  :=
LIBS_CFG   := -ljson-c
LIBS_NET   := -lnng -lpthread
COMMON_UNLISTED := $(filter-out $(COMMON_CORE) $(COMMON_WIRE) $(COMMON_CFG) $(COMMON_NET), \
		   $(basename $(notdir $(wildcard common/*.c))))
$(if $(COMMON_UNLISTED),$(error common/: $(COMMON_UNLISTED) in no group of the Makefile))
# the aggregator's pure logic: linked into unit tests too
# Prometheus remote write: protobuf-c code generated from our .proto
PROMPB_SRC := $(OUT)/aggregator/proto/remote.pb-c.c
PROMPB_OBJ := $(PROMPB_SRC:.c=.o)
LIBS_PROMRW := -lprotobuf-c -lsnappy -lsqlite3
AGG_CORE_OBJ := $(OUT)/aggregator/promrw.o $(PROMPB_OBJ) $(OUT)/aggregator/remote_write.o \
		$(OUT)/aggregator/store.o $(OUT)/aggregator/store_mem.o \
		$(OUT)/aggregator/store_entity.o $(OUT)/aggregator/store_ingest.o \
		$(OUT)/aggregator/store_query.o $(OUT)/aggregator/store_tier.o \
		$(OUT)/aggregator/history.o \
		$(OUT)/aggregator/republish.o \
		$(OUT)/aggregator/query.o
# the agent's logic without BPF (customer keys, the reader's journal):
# linked into unit tests too
AGENT_CORE_OBJ := $(OUT)/agent/keys.o $(OUT)/datapath/journal.o
DP_SRC     := datapath/datapath.c datapath/reader.c datapath/hook.c
DP_OBJ     := $(DP_SRC:%.c=$(OUT)/%.o)

UNIT_SRC   := $(wildcard tests/unit/*_test.c)
UNIT_BIN   := $(UNIT_SRC:%.c=$(OUT)/%)
BPFT_SRC   := $(wildcard tests/bpf/*_test.c)
BPFT_BIN   := $(BPFT_SRC:%.c=$(OUT)/%)
# the stand-in shaper (a BPF object and its loader) is built apart
TOOLS_SRC  := $(filter-out tests/tools/shaper%,$(wildcard tests/tools/*.c))
TOOLS_BIN  := $(TOOLS_SRC:%.c=$(OUT)/%) $(OUT)/tests/tools/pf-shaper
BENCH_SRC  := $(wildcard bench/*.c)
BENCH_BIN  := $(BENCH_SRC:%.c=$(OUT)/%)

.PHONY: all deps test unit-bins unit bpftest e2e bench fuzz demo demo-stop clean
BINS := $(OUT)/pingfold-dp $(OUT)/pingfold-agent $(OUT)/pingfold \
	$(OUT)/pingfold-aggregator
AGGR_OBJ := $(OUT)/aggregator/main.o $(OUT)/aggregator/config.o $(OUT)/aggregator/ingest.o \
	    $(OUT)/aggregator/gaps.o \
	    $(OUT)/aggregator/serve.o \
	    $(OUT)/aggregator/http.o $(OUT)/aggregator/metrics.o $(OUT)/aggregator/httpd.o \
	    $(OUT)/web_assets.o \
	    $(AGG_CORE_OBJ)
# The overview page, built into pingfold-aggregator (aggregator/http.c)
WEB_SRC := $(sort $(wildcard web/*.html web/*.js web/*.css))
AGENT_OBJ := $(OUT)/agent/agent.o $(OUT)/agent/config.o $(OUT)/agent/main.o \
	     $(AGENT_CORE_OBJ)

all: $(OUT)/pingfold.bpf.o $(OUT)/pingfold.skel.h $(COMMON_OBJ) $(DP_OBJ) \
	$(BINS) $(TOOLS_BIN)

deps:
	$(Q)./scripts/deps.sh

# --- BPF ---------------------------------------------------------------
$(OUT)/vmlinux.h:
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUT)/pingfold.bpf.o: datapath/pingfold.bpf.c datapath/pingfold_shared.h \
		datapath/parse.bpf.h common/hist_shared.h $(OUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@.tmp
	$(Q)llvm-strip -g $@.tmp -o $@ 2>/dev/null || mv $@.tmp $@
	$(Q)rm -f $@.tmp

$(OUT)/pingfold.skel.h: $(OUT)/pingfold.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name pingfold > $@

# --- userspace ---------------------------------------------------------
$(PROMPB_SRC): aggregator/proto/remote.proto
	$(call msg,PROTOC,$@)
	$(Q)mkdir -p $(OUT)
	$(Q)protoc-c --c_out=$(OUT) $<

$(PROMPB_OBJ): $(PROMPB_SRC)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wno-unused-parameter -c $< -o $@

$(OUT)/aggregator/promrw.o: $(PROMPB_SRC)

$(CORE_LIB): $(CORE_OBJ)
$(WIRE_LIB): $(WIRE_OBJ)
$(CFG_LIB): $(CFG_OBJ)
$(NET_LIB): $(NET_OBJ)
$(CORE_LIB) $(WIRE_LIB) $(CFG_LIB) $(NET_LIB):
	$(call msg,AR,$@)
	$(Q)rm -f $@
	$(Q)$(AR) rcs $@ $^

$(OUT)/%.o: %.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(DP_OBJ) $(OUT)/datapath/pfdp.o $(AGENT_OBJ): $(OUT)/pingfold.skel.h

$(OUT)/pingfold-agent: $(AGENT_OBJ) $(DP_OBJ) $(COMMON_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_BPF) $(LIBS_NET) $(LIBS_CFG) $(LIBS_WIRE) $(LIBS_CORE)

$(OUT)/web_assets.c: web/embed.sh $(WEB_SRC)
	$(call msg,GEN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)sh web/embed.sh $@ $(WEB_SRC)

$(OUT)/web_assets.o: $(OUT)/web_assets.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUT)/pingfold-aggregator: $(AGGR_OBJ) $(COMMON_OBJ)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LIBS_PROMRW) $(LIBS_NET) $(LIBS_CFG) $(LIBS_WIRE) $(LIBS_CORE)

$(OUT)/pingfold: $(OUT)/cli/pingfold.o $(NET_LIB) $(CFG_LIB) $(CORE_LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LIBS_NET) $(LIBS_CFG) $(LIBS_CORE)

$(OUT)/pingfold-dp: $(OUT)/datapath/pfdp.o $(DP_OBJ) $(CFG_LIB) $(CORE_LIB)
	$(call msg,LD,$@)
	$(Q)$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS_BPF) $(LIBS_CFG) $(LIBS_CORE)

$(OUT)/tests/unit/%_test: tests/unit/%_test.c $(COMMON_OBJ) $(AGG_CORE_OBJ) $(AGENT_CORE_OBJ)
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(COMMON_OBJ) $(AGG_CORE_OBJ) $(AGENT_CORE_OBJ) -o $@ -lcriterion -lmsgpackc $(LDLIBS_COMMON)

$(OUT)/tests/bpf/%_test: tests/bpf/%_test.c $(DP_OBJ) $(COMMON_OBJ) $(OUT)/pingfold.skel.h
	$(call msg,TEST,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(DP_OBJ) $(COMMON_OBJ) -o $@ -lcriterion $(LDLIBS_BPF) $(LDLIBS_COMMON)

# The stand-in shaper of the coexistence tests (tests/tools/shaper.bpf.c).
$(OUT)/shaper.bpf.o: tests/tools/shaper.bpf.c $(OUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/shaper.skel.h: $(OUT)/shaper.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name shaper > $@

$(OUT)/tests/tools/pf-shaper: tests/tools/shaper.c $(OUT)/shaper.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< -o $@ $(LDLIBS_BPF)

# Test tools: programs over common/, no datapath.
$(OUT)/tests/tools/%: tests/tools/%.c $(COMMON_OBJ)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(COMMON_OBJ) -o $@ $(LDLIBS_COMMON)

$(OUT)/bench/%: bench/%.c $(DP_OBJ) $(COMMON_OBJ) $(AGG_CORE_OBJ) $(OUT)/pingfold.skel.h
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $< $(DP_OBJ) $(COMMON_OBJ) $(AGG_CORE_OBJ) -o $@ \
		$(LDLIBS_BPF) $(LDLIBS_COMMON)

# --- tests -------------------------------------------------------------
# The unit tests (wire decoder, store, parsers) also run built with
# ASan+UBSan, from $(OUT)-san, in the same summary.
test: deps
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BIN) $(BPFT_BIN)
ifneq ($(SANITIZE),1)
	$(Q)$(MAKE) --no-print-directory SANITIZE=1 OUT=$(OUT)-san unit-bins
	$(Q)OUT=$(OUT) SAN_OUT=$(OUT)-san ./tests/run.sh
else
	$(Q)OUT=$(OUT) ./tests/run.sh
endif

unit-bins: $(UNIT_BIN)

unit: all $(UNIT_BIN)
	$(Q)OUT=$(OUT) ./tests/run.sh unit

bpftest: all $(BPFT_BIN)
	$(Q)OUT=$(OUT) ./tests/run.sh bpf

e2e: all
	$(Q)OUT=$(OUT) ./tests/run.sh e2e

# libFuzzer with ASan+UBSan on the wire decoder; FUZZ_SECONDS (default 60)
fuzz: all
	$(Q)OUT=$(OUT) ./tests/run.sh fuzz

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BENCH_BIN)
	$(Q)OUT=$(OUT) ./bench/run.sh

# The simulated fleet (deploy/demo/demo.sh): until Ctrl-C, or DEMO_SECS.
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)OUT=$(OUT) ./deploy/demo/demo.sh

demo-stop:
	$(Q)./deploy/demo/demo.sh stop

clean:
	$(call msg,CLEAN,$(OUT))
	$(Q)rm -rf $(OUT)

-include $(shell find $(OUT) -name '*.d' 2>/dev/null)

include deploy/install.mk
