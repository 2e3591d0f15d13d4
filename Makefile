# DearDiary FS - the set-up commands of the README:
#   make mount     install what building needs, build the command, put it on PATH, and
#                  mount a demo registry at ./demo/mnt (filled with an example when new)
#   make test      install what the tests need too, build everything, run every test
#   make install   install bin/deardiary and its man page under $(DESTDIR)$(PREFIX)
BUILD ?= build
DEMO_DB ?= demo/registry.db
DEMO_MNT ?= demo/mnt
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3
# pytest workers (pytest-xdist): the integration tests mostly wait (on mounts, servers,
# delivery), so three share even two cores; each worker has its own mounts, servers and
# PostgreSQL (conftest.py), and no test depends on another's order.
PYTEST_JOBS ?= $(shell n=$$(nproc); [ $$n -lt 3 ] && n=3; echo $$n)
PYTEST = $(PYTHON) -m pytest -q -n $(PYTEST_JOBS)
FUZZ_SECONDS ?= 20
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(DESTDIR)$(PREFIX)/bin
MANDIR = $(DESTDIR)$(PREFIX)/share/man/man1

.PHONY: all setup setup-test build build-tests asan mount on-path demo unmount install \
	uninstall test clean valgrind fuzz

all: build

# What building and mounting need; setup-test adds what the tests need (scripts/setup.sh).
setup:
	@bash scripts/setup.sh

setup-test:
	@bash scripts/setup.sh --test

# The command only; build-tests builds the unit tests too.
build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS) --target deardiary

build-tests: setup-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

# Installs what $(BUILD) holds (building it first only when there is nothing to install),
# so that `sudo make install` after `make` compiles nothing as root.
install:
	@test -x $(BUILD)/deardiary || $(MAKE) --no-print-directory build
	install -d $(BINDIR) $(MANDIR)
	install -m 0755 $(BUILD)/deardiary $(BINDIR)/deardiary
	install -m 0644 docs/deardiary.1 $(MANDIR)/deardiary.1

uninstall:
	rm -f $(BINDIR)/deardiary $(MANDIR)/deardiary.1

# Put the command where the README calls it, plain `deardiary`: installed into
# $(PREFIX)/bin when that is writable (root); otherwise the exact PATH line to type.
on-path:
	@if [ -w "$(PREFIX)/bin" ] || { [ ! -e "$(PREFIX)/bin" ] && mkdir -p "$(PREFIX)/bin" 2>/dev/null; }; then \
		$(MAKE) --no-print-directory install DESTDIR= >/dev/null || exit 1; \
		echo "deardiary installed as $(PREFIX)/bin/deardiary (man deardiary)"; \
		case ":$$PATH:" in *":$(PREFIX)/bin:"*) ;; \
		*) echo "$(PREFIX)/bin is not on your PATH; add it: export PATH=\"$(PREFIX)/bin:\$$PATH\"";; esac; \
	else \
		echo "$(PREFIX)/bin is not writable, so deardiary is not installed (sudo make install does)."; \
		echo "To call it as deardiary, type: export PATH=\"$(CURDIR)/$(BUILD):\$$PATH\""; \
	fi

# A new (or empty) demo database gets a small example, made through the mount by the
# scripts in examples/ (scripts/demo_fill.sh); one that has projects is left alone.
mount: build
	@$(MAKE) --no-print-directory on-path
	@mkdir -p $(DEMO_MNT)
	@if mountpoint -q $(DEMO_MNT); then fusermount3 -u $(DEMO_MNT); fi
	$(BUILD)/deardiary init $(DEMO_DB)
	$(BUILD)/deardiary mount $(DEMO_DB) $(DEMO_MNT)
	@$(MAKE) --no-print-directory demo
	@echo "demo registry mounted at $(DEMO_MNT) (demo:
	DEARDIARY=$(CURDIR)/$(BUILD)/deardiary sh scripts/demo_fill.sh $(DEMO_MNT)

unmount:
	fusermount3 -u $(DEMO_MNT)

# The integration suites that matter most run a second time on PostgreSQL (normal build
# only; DD_TEST_ENGINE gives every test a database of its own on one throwaway server:
# docs/ENGINES.md §7). About 3 minutes (6 when loaded); the rest (registry_artifacts, metric_files,
# users_mount, serve_bad_input, serve_dashboard: 6 more) pass too, run by hand.
PG_SUITES ?= $(addprefix tests/integration/,test_tracking_data.py test_tracking_lifecycle.py \
	test_tracking_tools.py test_tracking_tree.py test_tracking_refusals.py \
	test_registry_models.py test_registry_concurrency.py test_registry_tutorial.py \
	test_registry_refusals.py test_serve_api.py test_serve_auth.py test_serve_resources.py \
	test_serve_values.py test_serve_atomic.py test_serve_models.py test_serve_tags.py \
	test_serve_mount.py test_links.py test_users_cmd.py test_crash.py test_soak.py)

# Every test, on the normal build (then PG_SUITES on PostgreSQL), then again under
# AddressSanitizer + UBSan (the big 1 GiB artifact copies run at 64 MiB there and the soak
# for 20 s instead of 60: the sanitizers make them slow, not different), then the unit
# tests under valgrind and each fuzz target for a bounded time from its corpus.
test: build-tests asan
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	DEARDIARY_BIN=$(CURDIR)/$(BUILD)/deardiary $(PYTEST) tests/integration
	DEARDIARY_BIN=$(CURDIR)/$(BUILD)/deardiary DD_TEST_ENGINE=postgres \
		$(PYTEST) $(PG_SUITES)
	cd build-asan && DD_TEST_QUICK=1 ctest --output-on-failure -j$(JOBS)
	DEARDIARY_BIN=$(CURDIR)/build-asan/deardiary DD_TEST_BIG_BYTES=67108864 DD_TEST_QUICK=1 \
		$(PYTEST) tests/integration
	$(MAKE) --no-print-directory valgrind fuzz

asan: setup-test
	cmake -S . -B build-asan -DDD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j$(JOBS)

# The unit tests of the normal build under valgrind's memcheck: any error or definite
# leak fails (scripts/valgrind_unit.sh; about two minutes).
valgrind: build-tests
	bash scripts/valgrind_unit.sh $(BUILD)

# libFuzzer targets (fuzz/, clang) for every parser of user input: each replays its
# seed corpus, then fuzzes FUZZ_SECONDS from a copy of it; any crash fails.
fuzz: setup-test
	CC=clang cmake -S . -B build-fuzz -DDD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzzers
	bash scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
