# DearDiary FS - the two set-up commands of the README:
#   make mount   install what is missing, build, and mount a demo registry at ./demo/mnt
#   make test    install what is missing, build, and run every test (unit + integration)
BUILD ?= build
DEMO_DB ?= demo/registry.db
DEMO_MNT ?= demo/mnt
JOBS ?= $(shell nproc)
PYTHON ?= /usr/bin/python3

.PHONY: all setup build mount unmount test unit integration clean

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

test: build
	cd $(BUILD) && ctest --output-on-failure -j$(JOBS)
	DEARDIARY_BIN=$(CURDIR)/$(BUILD)/deardiary $(PYTHON) -m pytest -q tests/integration

clean:
	rm -rf $(BUILD) build-asan
