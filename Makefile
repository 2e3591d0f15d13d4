# DearDiary FS - the two set-up commands of the README:
#   make mount   install what is missing, build, and mount a demo registry at ./demo/mnt
#   make test    install what is missing, build, and run every test (unit + integration)
BUILD ?= build
DEMO_DB ?= demo/registry.db
DEMO_MNT ?= demo/mnt
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3
FUZZ_SECONDS ?= 20

.PHONY: all setup build asan mount unmount test clean valgrind fuzz

all: build

setup:
	@bash scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build $(BUILD) -j$(JOBS)

mount: build
	@mkdir -p $(DEMO_MNT)
	@if mountpoint -q $(DEMO_MNT); then fusermount3 -u $(DEMO_MNT); fi
	$(BUILD)/deardiary init $(DEMO_DB)
	$(BUILD)/deardiary mount $(DEMO_DB) $(DEMO_MNT)
	@echo "demo registry mounted at $(DEMO_MNT) (unmount: fusermount3 -u $(DEMO_MNT))"
	@ls $(DEMO_MNT)

unmount:
	fusermount3 -u $(DEMO_MNT)

# Every test, on the normal build, then again under AddressSanitizer + UBSan (the big
# 1 GiB artifact copies run at 64 MiB there and the soak for 20 s instead of 60: the
# sanitizers make them slow, not different), then the unit tests under valgrind and each
# fuzz target for a bounded time from its corpus.
test: build asan
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	DEARDIARY_BIN=$(CURDIR)/$(BUILD)/deardiary $(PYTHON) -m pytest -q tests/integration
	cd build-asan && DD_TEST_QUICK=1 ctest --output-on-failure -j$(JOBS)
	DEARDIARY_BIN=$(CURDIR)/build-asan/deardiary DD_TEST_BIG_BYTES=67108864 DD_TEST_QUICK=1 \
		$(PYTHON) -m pytest -q tests/integration
	$(MAKE) --no-print-directory valgrind fuzz

asan: setup
	cmake -S . -B build-asan -DDD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j$(JOBS)

# The unit tests of the normal build under valgrind's memcheck: any error or definite
# leak fails (scripts/valgrind_unit.sh; about two minutes).
valgrind: build
	bash scripts/valgrind_unit.sh $(BUILD)

# libFuzzer targets (fuzz/, clang) for every parser of user input: each replays its
# seed corpus, then fuzzes FUZZ_SECONDS from a copy of it; any crash fails.
fuzz: setup
	CC=clang cmake -S . -B build-fuzz -DDD_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzzers
	bash scripts/fuzz.sh build-fuzz $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD) build-asan build-fuzz
