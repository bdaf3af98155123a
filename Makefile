# Thin wrapper over CMake. `make test` is the test command CI runs (normal + ASan/UBSan builds).
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
CTEST_ARGS ?=

.PHONY: all build asan test test-normal test-asan test-fuzz fuzz bench demo clean deps

all: build

deps:
	bash scripts/install-deps.sh

build:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTEELM_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# Normal build runs every test; the sanitizer build skips the tests labelled `slow`
# (long training comparisons and benchmarks), which exercise no code the fast tests miss.
test-normal: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-asan: asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)

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
