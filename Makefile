# DearDiary FS - the two set-up commands of the README:
#   make mount   install what is missing, build, and mount a demo registry at ./demo/mnt
#   make test    install what is missing, build, and run every test (unit + integration)
BUILD ?= build
DEMO_DB ?= demo/registry.db
DEMO_MNT ?= demo/mnt
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3

.PHONY: all setup build asan mount unmount test clean

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
# 1 GiB artifact copies run at 64 MiB there: the sanitizers make them slow, not different).
test: build asan
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	DEARDIARY_BIN=$(CURDIR)/$(BUILD)/deardiary $(PYTHON) -m pytest -q tests/integration
	cd build-asan && DD_TEST_QUICK=1 ctest --output-on-failure -j$(JOBS)
	DEARDIARY_BIN=$(CURDIR)/build-asan/deardiary DD_TEST_BIG_BYTES=67108864 \
		$(PYTHON) -m pytest -q tests/integration

asan: setup
	cmake -S . -B build-asan -DDD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build build-asan -j$(JOBS)

clean:
	rm -rf $(BUILD) build-asan
