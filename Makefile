# Thin wrapper over Meson: the README's commands. BUILD=dir and MESON_ARGS=... override.
BUILD ?= build
MESON_ARGS ?=
BACTOR = $(BUILD)/cli/bactor

.PHONY: all deps configure build build-cli demo test test-embed test-portable test-mpi bench bench-docs install sanitize sanitize-fast fuzz clean

all: build

deps:
	@bash .ci/deps.sh

$(BUILD)/build.ninja: | deps
	meson setup $(BUILD) $(MESON_ARGS)

configure: $(BUILD)/build.ninja

build: deps configure
	ninja -C $(BUILD)

# Only the library and the `bactor` program: the demo needs no test, benchmark or example.
build-cli: deps configure
	ninja -C $(BUILD) cli/bactor

demo: build-cli
	$(BACTOR) demo

# Every test suite, then the embedding check (examples built against the installed library
# with the README's pkg-config command and as a Meson subproject, and run).
test: build
	meson test -C $(BUILD) --print-errorlogs
	bash .ci/embed.sh $(BUILD)

# The engine, samplers and models suites built for the portable baseline (-Dnative=false: plain
# x86-64, no AVX or FMA) in their own build directory; CI runs it after `make test`.
# PORTABLE_TEST_ARGS: doctest arguments for every suite (CI leaves out the longest cases).
PORTABLE_BUILD ?= build-portable
PORTABLE_TEST_ARGS ?=
test-portable: deps
	@[ -f $(PORTABLE_BUILD)/build.ninja ] || meson setup $(PORTABLE_BUILD) -Dnative=false
	ninja -C $(PORTABLE_BUILD) tests/engine/test_engine tests/samplers/test_samplers tests/models/test_models
	meson test -C $(PORTABLE_BUILD) --no-rebuild --print-errorlogs $(if $(PORTABLE_TEST_ARGS),--test-args='$(PORTABLE_TEST_ARGS)') engine samplers models

# The MPI variant (-Dmpi=enabled; Open MPI from `.ci/deps.sh mpi`) in its own build directory:
# only the `bactor` program and the identity test (mpirun -np 2 against one process).
MPI_BUILD ?= build-mpi
test-mpi:
	@bash .ci/deps.sh mpi
	@[ -f $(MPI_BUILD)/build.ninja ] || meson setup $(MPI_BUILD) -Dmpi=enabled
	ninja -C $(MPI_BUILD) cli/bactor tests/cli/test_cli_mpi
	meson test -C $(MPI_BUILD) --no-rebuild --print-errorlogs cli_mpi

test-embed: build
	bash .ci/embed.sh $(BUILD)

bench: build
	meson test -C $(BUILD) --benchmark --verbose

# Runs the benchmarks once, keeps their JSON lines in bench/results/ and regenerates
# docs/benchmarks.md from them (the benchmarks_md test checks the page against the JSON).
bench-docs: build
	bash bench/run.sh $(BUILD)

install: build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)

# ASan + UBSan build of the whole test suite (gcc), in its own build directory, at -O3 with
# debug info so the floating-point results match the release build's.
SAN_BUILD ?= build-sanitize
sanitize: deps
	@[ -f $(SAN_BUILD)/build.ninja ] || meson setup $(SAN_BUILD) -Dbuildtype=debugoptimized -Doptimization=3 \
	  -Db_sanitize=address,undefined -Db_lundef=false -Dnative=true
	ninja -C $(SAN_BUILD)
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
	  meson test -C $(SAN_BUILD) --print-errorlogs --timeout-multiplier 4 $(SAN_TESTS)

# ASan + UBSan of the fast suites only (engine, samplers), compiled directly; CI runs it.
sanitize-fast: deps
	bash .ci/sanitize-fast.sh

# libFuzzer harnesses (clang), each run for FUZZ_SECONDS over a seed corpus built from the
# reference data, a tiny trained network and a tiny draws file; then the committed
# regression inputs are replayed.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz: build
	@command -v clang++ >/dev/null || { echo "make fuzz needs clang (apt-get install clang libclang-rt-14-dev)"; exit 1; }
	@[ -f $(FUZZ_BUILD)/build.ninja ] || CXX=clang++ meson setup $(FUZZ_BUILD) -Dfuzz=true \
	  -Dopenmp=disabled -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
	  -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link
	ninja -C $(FUZZ_BUILD) tests/fuzz/fuzz_data_csv tests/fuzz/fuzz_data_columns tests/fuzz/fuzz_network tests/fuzz/fuzz_cmdstan_csv
	bash tests/fuzz/run.sh $(BUILD) $(FUZZ_BUILD) $(FUZZ_SECONDS)
