#!/usr/bin/env bash
# Weight loading: the seed model (vocab 100070, 12.96 M parameters) from model.pth with torch.load
# (Debian's PyTorch) versus teelm's tl_checkpoint_load from model.safetensors (full layout) and from
# the split layout, in one run, files in the page cache. Two measurements, both timing only the load
# call (interpreter and torch import excluded):
#   first load: the first load in a fresh process (what generate/serve/eval pay), REPS processes each;
#   repeated:   REPS loads in one process (the allocator then reuses already-mapped memory).
# Prints medians and the ratios torch.load / teelm.
set -euo pipefail
# shellcheck source=bench/common.sh
. "$(dirname "$0")/common.sh"
bench_setup tests/formats/bench_weights_load
loader=$build/tests/formats/bench_weights_load
py=${TEELM_PYTHON:-/usr/bin/python3}
reps=${REPS:-15}

# the seed model, saved the prototype's way
"$py" -c "
import sys, importlib.util, torch
spec = importlib.util.spec_from_file_location('ref', '$root/tests/reference/weights_ref.py')
ref = importlib.util.module_from_spec(spec); spec.loader.exec_module(ref)
torch.manual_seed(1337)
m = ref.Model(100070)
torch.save(m.state_dict(), '$tmp/model.pth')
"
"$teelm" import "$tmp/model.pth" --out "$tmp/full" 2>/dev/null >/dev/null
"$teelm" export --model "$tmp/full" --out "$tmp/split" --layout split >/dev/null
for f in "$tmp/model.pth" "$tmp/full/model.safetensors"; do echo "  $(stat -c %s "$f") bytes  $(basename "$f")"; done


first_torch() { "$py" -c "
import time, torch
torch.set_num_threads(2)
t = time.perf_counter(); sd = torch.load('$1'); print('%.3f' % ((time.perf_counter() - t) * 1e3))
"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for _ in $(seq "$reps"); do first_torch "$tmp/model.pth"; done | median >"$tmp/t1"
for _ in $(seq "$reps"); do "$loader" "$tmp/full" 1 | cut -d' ' -f1; done | median >"$tmp/f1"
for _ in $(seq "$reps"); do "$loader" "$tmp/split" 1 | cut -d' ' -f1; done | median >"$tmp/s1"

rep_torch=$("$py" -c "
import time, statistics, torch
torch.set_num_threads(2)
ts = []
for _ in range($reps):
    t = time.perf_counter(); sd = torch.load('$tmp/model.pth'); ts.append((time.perf_counter() - t) * 1e3); del sd
print('%.3f' % statistics.median(ts))
")
rep_full=$("$loader" "$tmp/full" "$reps" | cut -d' ' -f1)
rep_split=$("$loader" "$tmp/split" "$reps" | cut -d' ' -f1)

t1=$(cat "$tmp/t1"); f1=$(cat "$tmp/f1"); s1=$(cat "$tmp/s1")
printf '%-40s %16s %16s\n' "seed model, vocab 100070 (median ms)" "first load" "repeated"
printf '%-40s %16s %16s\n' "torch.load(model.pth)" "$t1" "$rep_torch"
printf '%-40s %16s %16s\n' "teelm model.safetensors (full layout)" "$f1" "$rep_full"
printf '%-40s %16s %16s\n' "teelm split layout (10 files)" "$s1" "$rep_split"
awk -v t="$t1" -v f="$f1" -v s="$s1" -v rt="$rep_torch" -v rf="$rep_full" -v rs="$rep_split" 'BEGIN {
  printf "ratio torch.load / teelm: first load %.1fx (full), %.1fx (split); repeated %.1fx (full), %.1fx (split)\n",
         t / f, t / s, rt / rf, rt / rs }'
