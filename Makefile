# Thin wrapper over Meson: the README's commands. BUILD=dir and MESON_ARGS=... override.
BUILD ?= build
MESON_ARGS ?=
BACTOR = $(BUILD)/cli/bactor

.PHONY: all deps configure build demo test bench install sanitize fuzz clean

all: build

deps:
	@bash .ci/deps.sh

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_ARGS)

configure: $(BUILD)/build.ninja

build: deps configure
	ninja -C $(BUILD)

demo: build
	$(BACTOR) demo

test: build
	meson test -C $(BUILD) --print-errorlogs

bench: build
	meson test -C $(BUILD) --benchmark --verbose

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)
