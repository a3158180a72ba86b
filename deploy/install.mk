# make install / uninstall / deb. Included by the Makefile.
#   make install [PREFIX=/usr/local] [DESTDIR=...]   the tree in docs/operations.md
#   make uninstall [PREFIX=...] [DESTDIR=...]
#   make deb         build/pingfold_VERSION_ARCH.deb (PREFIX=/usr), with dpkg-deb
# Paths the units and the roll-out tool name are fixed up to PREFIX.

PREFIX     ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DOCDIR     ?= $(DATADIR)/doc/pingfold
EXAMPLEDIR ?= $(DATADIR)/pingfold/examples
WEBDIR     ?= $(DATADIR)/pingfold/web
UNITDIR    ?= $(PREFIX)/lib/systemd/system

# A v* tag when there is one, else 0.1.0~git<commit time>.<hash>: later
# commits sort higher, and any release above the snapshots.
ifndef PF_VERSION
PF_VERSION := $(or $(patsubst v%,%,$(shell git describe --tags --match 'v[0-9]*' 2>/dev/null | \
		sed 's/-\([0-9]*\)-g/+\1.g/')),$(shell git log -1 \
		--format='0.1.0~git%cd.%h' --date=format:%Y%m%d%H%M 2>/dev/null),0.1.0)
endif
ifndef PF_ARCH
PF_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
endif
PF_DEB     := $(OUT)/pingfold_$(PF_VERSION)_$(PF_ARCH).deb

PF_PROGS   := pingfold-agent pingfold-aggregator pingfold pingfold-dp
PF_UNITS   := $(wildcard deploy/systemd/*.service deploy/systemd/*.path)
PF_DOCS    := README.md $(wildcard docs/*.md)
PF_EXAMPLES := $(wildcard deploy/config/*.example) deploy/rollout/inventory.example \
	       deploy/demo/ShapedDevices.csv deploy/demo/network.json \
	       deploy/grafana/pingfold-dashboard.json deploy/prometheus/pingfold-rules.yml \
	       deploy/prometheus/pingfold-rules.test.yml
PF_WEB     := $(wildcard web/*.html web/*.js web/*.css)
PF_MANPAGES := pingfold-agent.8 pingfold-aggregator.8 pingfold.1 pingfold-dp.8
PF_MAN_OUT := $(addprefix $(OUT)/man/,$(PF_MANPAGES))

# the runtime paths in units and in the roll-out tool
PF_FIXUP = sed -e 's|/usr/bin/pingfold|$(BINDIR)/pingfold|g' \
		-e 's|/etc/pingfold/|$(SYSCONFDIR)/pingfold/|g' \
		-e 's|/etc/default/pingfold|$(SYSCONFDIR)/default/pingfold|g' \
		-e 's|/usr/share/doc/pingfold/|$(DOCDIR)/|g' \
		-e 's|/usr/share/pingfold/examples|$(EXAMPLEDIR)|g'

.PHONY: install uninstall deb man

man: $(PF_MAN_OUT)

# a page from each program's --help (deploy/mkman.sh)
define PF_MAN_RULE
$(OUT)/man/$(1).$(2): $(OUT)/$(1) deploy/mkman.sh
	$$(call msg,MAN,$$@)
	$$(Q)mkdir -p $$(@D)
	$$(Q)./deploy/mkman.sh $(OUT)/$(1) $(2) '$$(PF_VERSION)' '$(3)' $(PF_MANPAGES) > $$@.tmp
	$$(Q)mv $$@.tmp $$@
endef
$(eval $(call PF_MAN_RULE,pingfold-agent,8,passive per-customer latency on a shaper box))
$(eval $(call PF_MAN_RULE,pingfold-aggregator,8,fleet-wide per-customer latency from many agents))
$(eval $(call PF_MAN_RULE,pingfold,1,latency of customers and sites from an aggregator))
$(eval $(call PF_MAN_RULE,pingfold-dp,8,the pingfold datapath on its own))

# The install itself, shared by install and deb (which sets PREFIX and
# DESTDIR for itself).
define PF_INSTALL_CMDS
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) \
		$(DESTDIR)$(EXAMPLEDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8
	$(Q)install -m 0755 $(addprefix $(OUT)/,$(PF_PROGS)) $(DESTDIR)$(BINDIR)/
	$(Q)$(PF_FIXUP) deploy/rollout/pingfold-rollout > $(DESTDIR)$(BINDIR)/pingfold-rollout
	$(Q)chmod 0755 $(DESTDIR)$(BINDIR)/pingfold-rollout
	$(Q)for u in $(PF_UNITS); do \
		$(PF_FIXUP) $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; done
	$(Q)install -m 0644 $(PF_DOCS) $(DESTDIR)$(DOCDIR)/
	$(Q)install -m 0644 $(PF_EXAMPLES) $(DESTDIR)$(EXAMPLEDIR)/
	$(Q)for m in $(PF_MAN_OUT); do \
		$(PF_FIXUP) $$m > $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/} && \
		chmod 0644 $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/} || exit 1; done
	$(Q)$(if $(PF_WEB),install -d $(DESTDIR)$(WEBDIR) && \
		install -m 0644 $(PF_WEB) $(DESTDIR)$(WEBDIR)/,:)
endef

install: all man
	$(PF_INSTALL_CMDS)

uninstall:
	$(call msg,UNINST,$(DESTDIR)$(PREFIX))
	$(Q)rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(PF_PROGS) pingfold-rollout) \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(PF_UNITS))) \
		$(foreach m,$(PF_MAN_OUT),$(DESTDIR)$(MANDIR)/man$(patsubst .%,%,$(suffix $(m)))/$(notdir $(m)))
	$(Q)rm -rf $(DESTDIR)$(DOCDIR) $(DESTDIR)$(DATADIR)/pingfold

# --- Debian package -------------------------------------------------------
# The install tree with PREFIX=/usr under $(OUT)/deb/debian/pingfold, where
# dpkg-shlibdeps (dpkg-dev, part of build-essential) expects it, computes
# Depends from the libraries the binaries link; dpkg-deb builds the
# package, files owned by root.
PF_DEBDIR := $(OUT)/deb/debian/pingfold

deb: override PREFIX := /usr
deb: override DESTDIR := $(abspath $(PF_DEBDIR))
deb: all man
	$(Q)rm -rf $(OUT)/deb
	$(PF_INSTALL_CMDS)
	$(call msg,DEB,$(PF_DEB))
	$(Q)printf 'Source: pingfold\n\nPackage: pingfold\nArchitecture: any\n' \
		> $(OUT)/deb/debian/control
	$(Q)install -d -m 0755 $(PF_DEBDIR)/DEBIAN
	$(Q)cd $(OUT)/deb && dpkg-shlibdeps -O $(addprefix debian/pingfold/usr/bin/,$(PF_PROGS)) \
		2>/dev/null | sed -n 's/^shlibs:Depends=//p' > depends
	$(Q)test -s $(OUT)/deb/depends || { echo "deb: dpkg-shlibdeps found no Depends" >&2; exit 1; }
	$(Q){ \
		echo "Package: pingfold"; \
		echo "Version: $(PF_VERSION)"; \
		echo "Architecture: $(PF_ARCH)"; \
		echo "Maintainer: pingfold maintainers <pingfold@example.net>"; \
		echo "Installed-Size: $$(du -sk $(PF_DEBDIR)/usr | cut -f1)"; \
		echo "Depends: $$(cat $(OUT)/deb/depends)"; \
		echo "Section: net"; \
		echo "Priority: optional"; \
		echo "Description: passive per-customer latency for ISP traffic shapers"; \
		echo " pingfold watches the traffic crossing a shaper (LibreQoS-style boxes),"; \
		echo " matches TCP timestamps and ICMP echoes, and folds every round-trip"; \
		echo " sample in the kernel into a histogram of its customer, split into the"; \
		echo " access and internet halves. pingfold-agent runs on each shaper box (a"; \
		echo " BPF datapath), pingfold-aggregator merges the fleet, the pingfold CLI"; \
		echo " and an HTTP page show it."; \
	} > $(PF_DEBDIR)/DEBIAN/control
	$(Q)install -m 0755 deploy/deb/postinst deploy/deb/prerm deploy/deb/postrm $(PF_DEBDIR)/DEBIAN/
	$(Q)printf '%s\n' 'pingfold: (GPL-2.0 OR BSD-2-Clause), as the SPDX line of each source file says.' \
		> $(PF_DEBDIR)/usr/share/doc/pingfold/copyright
	$(Q)dpkg-deb --root-owner-group -Zxz --build $(PF_DEBDIR) $(PF_DEB) >/dev/null
	$(Q)echo "$(PF_DEB)"
