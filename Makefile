# Thin wrapper over CMake. `make test` is the test command CI runs (normal + ASan/UBSan builds).
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CTEST_ARGS ?=

.PHONY: all build asan test test-normal test-asan test-fuzz fuzz bench demo clean deps deps-test

all: build

# What building and running need (the demo's), and that plus the test references (make test's).
deps:
	bash scripts/install-deps.sh

deps-test:
	bash scripts/install-deps.sh --test

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTEELM_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Normal build runs every test; the sanitizer build leaves out the tests labelled `slow` (long
# training comparisons and benchmarks, which exercise no code the fast tests miss) and `nosan`
# (measurements of teelm's own memory, which the sanitizers change). Soaks (label `soak`) run in
# both, bounded by a count that is smaller in the sanitizer build (TEELM_SANITIZE=1 in the test env).
# After each run scripts/test-summary.py lists every skip with its reason and fails the target when
# a test skipped for a missing tool or reference (only an absent ../shared may skip), unless the
# person running it asks for skips with TEELM_ALLOW_SKIP=1. See tests/util/test.h.
# run_ctest(build dir, title, extra ctest args): ctest, then the summary; fails if either fails.
define run_ctest
	@rm -rf $(1)/Testing/skips $(1)/Testing/teelm-junit.xml
	@rc=0; (cd $(1) && ctest --output-on-failure -j $(JOBS) --output-junit $(abspath $(1))/Testing/teelm-junit.xml \
	    $(3) $(CTEST_ARGS)) || rc=1; \
	  python3 scripts/test-summary.py $(1)/Testing/teelm-junit.xml $(1)/Testing/skips "$(2)" || rc=1; \
	  exit $$rc
endef

test-normal: deps-test build
	$(call run_ctest,$(BUILD),normal build,)

test-asan: deps-test asan
	$(call run_ctest,$(ASAN_BUILD),ASan/UBSan build,-LE '^(slow|nosan)$$')

# Every libFuzzer target runs briefly too (FUZZ_SECONDS each), so parser regressions surface in CI.
test-fuzz:
	$(MAKE) fuzz FUZZ_SECONDS=$(or $(FUZZ_SECONDS),15)

test: test-normal test-asan test-fuzz

fuzz:
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DTEELM_FUZZ=ON -DTEELM_NATIVE=OFF >/dev/null
	cmake --build build-fuzz -j $(JOBS)
	bash scripts/run-fuzz.sh build-fuzz $(or $(FUZZ_SECONDS),20)

bench: build
	bash bench/run-all.sh

demo:
	bash scripts/demo.sh

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
