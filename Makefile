# Dewpoint: `make demo` runs the agent live; `make test` runs every test.
# Both install the Debian packages they need first (apt-get update once, then install what is missing).

SWIFT        ?= swift
APT_PACKAGES := mosquitto mosquitto-clients libmosquitto-dev libsqlite3-dev libyaml-dev libpcap-dev socat openssl python3 python3-venv pkg-config iproute2 systemd lintian
BIN          := .build/release/dewpoint
# The release binary is linked with the toolchain's lld and packed relative relocations (DT_RELR,
# glibc 2.36+): the dynamic loader then reads 15 KB of relocations at start instead of 1.9 MB,
# which measured 2.6 MiB less resident memory for the running agent. Without ld.lld next to
# swift, the default linker is used.
# The binary then needs glibc 2.36 or newer (Debian 12); for an older target build with
# `make build PACK_RELR=0`.
PACK_RELR    ?= 1
LLD          := $(shell d=$$(dirname $$(readlink -f $$(command -v $(SWIFT)) 2>/dev/null) 2>/dev/null); [ -x "$$d/ld.lld" ] && echo yes)
# The functions an idle agent runs, linked first and together (scripts/order-idle-functions.sh
# measures them), so that its resident code is a few hundred KiB instead of pages all over the text.
IDLE_ORDER   := -Xlinker --symbol-ordering-file=$(CURDIR)/scripts/idle-functions.order -Xlinker --no-warn-symbol-ordering
RELEASE_LINK := $(if $(and $(LLD),$(filter 1,$(PACK_RELR))),-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs $(IDLE_ORDER))
# Each function in a section of its own, so that the linker can order single functions: without
# it a Swift file's functions share one .text section, and ordering one of them moves the whole
# file (the ordered start-up code was then spread over 5.5 MiB of text instead of 1 MiB).
RELEASE_SECTIONS := -Xswiftc -Xfrontend -Xswiftc -function-sections
# The driver links executables with --export-dynamic: every Swift symbol (1.1 MB of dynamic
# symbol table) was exported, and the dynamic loader, which looks each symbol of every library up
# in the executable first, read most of it at start (1.1 MiB of resident memory before main).
# Nothing loads into the agent that needs its symbols.
RELEASE_SECTIONS += -Xlinker --no-export-dynamic
RELEASE_LINK += $(if $(and $(LLD),$(filter 1,$(PACK_RELR))),-Xlinker -T -Xlinker $(CURDIR)/scripts/rodata.ld)

# The release binary binds every symbol at start (`-z now`, so with RELRO the whole GOT is
# read-only) and carries no `$ORIGIN` run path (a library planted beside it is never loaded).
#
# `make install`: the stripped binary (its debug information stays in .build), the systemd unit,
# and the example agent file and device bindings unless /etc/dewpoint already has them.
PREFIX       ?= /usr/local
DESTDIR      ?=
OBJCOPY      := $(shell d=$$(dirname $$(readlink -f $$(command -v $(SWIFT)) 2>/dev/null) 2>/dev/null); [ -x "$$d/llvm-objcopy" ] && echo "$$d/llvm-objcopy" || echo objcopy)

.PHONY: all deps testenv build debug test test-arm64 arm64 arm64-bookworm demo bench fuzz install deb clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" -ne 0 ] && SUDO=sudo; \
	  $$SUDO apt-get update -q && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

build: deps
	@# SwiftPM does not know the ordering file or the linker script: a newer one must relink
	@[ ! -e $(BIN) ] || { [ $(BIN) -nt scripts/idle-functions.order ] && [ $(BIN) -nt scripts/rodata.ld ]; } || rm -f $(BIN)
	$(SWIFT) build -c release --product dewpoint --static-swift-stdlib --disable-local-rpath -Xlinker -z -Xlinker now $(RELEASE_SECTIONS) $(RELEASE_LINK)
	$(if $(and $(LLD),$(filter 1,$(PACK_RELR))),@./scripts/check-rodata.sh $(BIN))

debug: deps
	$(SWIFT) build

# The tests' own Python tools (a Sparkplug host, Home Assistant), from PyPI, pinned in
# Tests/tools/requirements.txt, in a virtual environment under .build (made once, remade when
# the pins change).
TESTENV      := .build/testenv
testenv: deps
	@if ! cmp -s Tests/tools/requirements.txt $(TESTENV)/requirements.txt; then \
	  echo "making $(TESTENV) (Python packages for the tests, from PyPI)"; \
	  rm -rf $(TESTENV) && python3 -m venv $(TESTENV) && \
	  $(TESTENV)/bin/pip install -q --disable-pip-version-check -r Tests/tools/requirements.txt && \
	  cp Tests/tools/requirements.txt $(TESTENV)/requirements.txt; \
	fi

test: deps testenv
	$(SWIFT) build --build-tests
	DEWPOINT_BIN=$(CURDIR)/.build/debug/dewpoint DEWPOINT_TEST_PYTHON=$(CURDIR)/$(TESTENV)/bin/python3 $(SWIFT) test --skip-build
	$(MAKE) --no-print-directory deb
	./scripts/test-deb.sh $(DEB)

# `make demo FORMAT=sparkplug_b` or `FORMAT=homeassistant` sends upstream in that format
FORMAT       ?= json
demo: build
	FORMAT=$(FORMAT) ./scripts/demo.sh $(BIN)

# `make install` installs what `make build` made: it builds nothing, so it needs neither Swift
# nor the -dev packages. The example bindings go to the docs, not live into /etc/dewpoint (one
# captures on eth0, one opens a serial port): /etc/dewpoint gets an agent file with no devices.
UNITDIR      ?= /etc/systemd/system
DOCDIR        = $(PREFIX)/share/doc/dewpoint
install:
	@[ -x $(BIN) ] || { echo "no release build at $(BIN): run 'make build' first"; exit 1; }
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/dewpoint/devices \
	  $(DESTDIR)$(DOCDIR)/docs/img $(DESTDIR)$(DOCDIR)/examples/devices
	$(OBJCOPY) --strip-all $(BIN) $(DESTDIR)$(PREFIX)/bin/dewpoint
	chmod 755 $(DESTDIR)$(PREFIX)/bin/dewpoint
	sed -e 's|/usr/local/bin/dewpoint|$(PREFIX)/bin/dewpoint|g' -e 's|/usr/share/doc/dewpoint|$(DOCDIR)|g' \
	  systemd/dewpoint.service > $(DESTDIR)$(UNITDIR)/dewpoint.service
	chmod 644 $(DESTDIR)$(UNITDIR)/dewpoint.service
	[ -e $(DESTDIR)/etc/dewpoint/dewpoint.yaml ] || install -m 644 packaging/dewpoint.yaml $(DESTDIR)/etc/dewpoint/dewpoint.yaml
	install -m 644 dewpoint.yaml $(DESTDIR)$(DOCDIR)/examples/dewpoint.yaml
	install -m 644 devices/*.yaml $(DESTDIR)$(DOCDIR)/examples/devices/
	install -m 644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	install -m 644 docs/img/*.png $(DESTDIR)$(DOCDIR)/docs/img/
	@echo "installed; then: systemctl daemon-reload && systemctl enable --now dewpoint"

# `make deb`: a Debian package of the release build (dpkg-deb), checked with lintian when it is
# installed. The architecture is the build machine's.
VERSION      := $(shell sed -n 's/.*static let string = "\(.*\)"/\1/p' Sources/DewpointCore/Version.swift)
ARCH         := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB          := .build/dewpoint_$(VERSION)_$(ARCH).deb
deb: build
	./scripts/make-deb.sh $(BIN) $(VERSION) $(ARCH) $(DEB)

# aarch64 (Raspberry Pi) on this x86_64 machine, with Debian's packages: see docs/arm64.md.
arm64:
	./scripts/arm64.sh build

arm64-bookworm:
	./scripts/arm64.sh build-bookworm

test-arm64:
	./scripts/arm64.sh test

bench: build
	./scripts/bench-replay.sh $(BIN)

clean:
	rm -rf .build

fuzz: deps
	$(SWIFT) build -c release --package-path Fuzz -Xswiftc -sanitize=fuzzer,address
	for t in FuzzJSON FuzzLineProtocol FuzzBinary FuzzCSV FuzzPacket FuzzYAML FuzzTopicFilter FuzzSparkplugCommand; do \
	  SWIFT_BACKTRACE=enable=no Fuzz/.build/release/$$t -runs=$${RUNS:-1000000} -max_len=4096 -print_final_stats=1 > Fuzz/.build/$$t.log 2>&1; \
	  status=$$?; tail -3 Fuzz/.build/$$t.log; \
	  [ $$status -eq 0 ] || { echo "$$t failed (exit $$status): see Fuzz/.build/$$t.log"; exit 1; }; \
	done
