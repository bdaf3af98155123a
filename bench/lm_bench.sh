#!/usr/bin/env bash
# The Hugging Face engine's speed (bench/lm_bench.c, random weights in memory) beside PyTorch eager
# (bench/models_ref.py, tests/reference/hf_models.py) on the same shapes, 2 threads each, in one run:
# smollm135 in F32, BF16 and F16 (BF16/F16 kept in their dtype and widened in the kernels; F32 is
# also what converting them up front would give), gpt2-124 in F32. Prints the load average with
# every line: the machine is shared, wall-clock rates drop with load, CPU seconds per token do not.
# Environment: LIB (default build/libteelm_core.a), RUNS (3), TORCH (1: also run PyTorch; slow:
# minutes per shape), TORCH_NEW (16: PyTorch's generated tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
lib=${LIB:-build/libteelm_core.a}
runs=${RUNS:-3}
tmp=$(mktemp -d /tmp/teelm-lm-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2046
gcc -std=c11 -O2 -march=native -D_GNU_SOURCE -Isrc bench/lm_bench.c "$lib" \
  $(pkg-config --libs jansson openssl libevent libcurl libzip libpcre2-8) -fopenmp -lm -lpthread -o "$tmp/lm_bench"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
for run in "smollm135 F32" "smollm135 BF16" "smollm135 F16" "gpt2-124 F32"; do
  # shellcheck disable=SC2086
  "$tmp/lm_bench" $run 2 128 64 "$runs"
done
if [ "${TORCH:-1}" = 1 ]; then
  for shape in smollm135 gpt2-124; do
    echo "pytorch $shape (load before: $(cut -d' ' -f1-3 /proc/loadavg)):"
    /usr/bin/python3 bench/models_ref.py --shape "$shape" --prompt 128 --new "${TORCH_NEW:-16}" --runs 1 --threads 2
  done
fi
