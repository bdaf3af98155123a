#!/usr/bin/env bash
# A/B of the tile kernels between two builds of libteelm_core.a (bench/kernels.c), in one run:
#   bench/kernels_ab.sh BASE_LIB [NEW_LIB] [ROUNDS] [THREADS] [FILTER]
# NEW_LIB defaults to build/libteelm_core.a. First checks that both builds print the same
# fingerprints (`kernels hash`: outputs bit for bit), then runs `kernels time` ROUNDS times (default
# 5) alternating A and B (ABBA) so load from other processes falls on both alike, and prints each kernel's
# median over rounds and the ratio B/A (below 1: B is faster).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bench/kernels_ab.sh BASE_LIB [NEW_LIB] [ROUNDS] [THREADS]}
new=${2:-build/libteelm_core.a}
rounds=${3:-5}
threads=${4:-2}
filter=${5:-}
tmp=$(mktemp -d /tmp/teelm-kernels-ab.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
for side in a b; do
  lib=$base; [ "$side" = b ] && lib=$new
  gcc -std=c11 -O2 -Wall -Wextra -Isrc bench/kernels.c "$lib" -lm -lpthread -o "$tmp/kernels_$side"
done
"$tmp/kernels_a" hash >"$tmp/hash_a"
"$tmp/kernels_b" hash >"$tmp/hash_b"
if cmp -s "$tmp/hash_a" "$tmp/hash_b"; then
  echo "outputs: bit-identical ($(wc -l <"$tmp/hash_a") kernel/shape fingerprints)"
else
  echo "outputs: DIFFER"; diff "$tmp/hash_a" "$tmp/hash_b" | head -5
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $threads threads, $rounds rounds"
for r in $(seq "$rounds"); do # ABBA order: neither side always runs first
  if [ $((r % 2)) = 1 ]; then order="a b"; else order="b a"; fi
  for side in $order; do "$tmp/kernels_$side" time "$threads" "$filter" >"$tmp/$side.$r"; done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-36s %12s %12s %7s\n' kernel "A us" "B us" "B/A"
n=$(wc -l <"$tmp/a.1")
for i in $(seq "$n"); do
  name=$(sed -n "${i}p" "$tmp/a.1" | sed -E 's/ +[0-9.]+ us$//')
  med() { for f in "$tmp"/"$1".*; do sed -n "${i}p" "$f" | awk '{print $(NF-1)}'; done | sort -g |
    awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  a=$(med a); b=$(med b)
  printf '%-36s %12s %12s %7.3f\n' "$name" "$a" "$b" "$(echo "$b / $a" | bc -l)"
done
