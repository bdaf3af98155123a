#!/usr/bin/env bash
# Weight loading: the seed model (vocab 100070, 12.96 M parameters) from model.pth with torch.load
# (Debian's PyTorch, in-process time, interpreter start-up excluded) versus teelm's
# tl_checkpoint_load from model.safetensors (full layout) and from the split layout, in one run on
# warm page cache. Prints medians of REPS loads and the ratios.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build}
py=${TEELM_PYTHON:-/usr/bin/python3}
reps=${REPS:-15}
teelm=$build/teelm
loader=$build/tests/weights/bench_weights_load
if [ ! -x "$teelm" ] || [ ! -x "$loader" ]; then echo "build first: make build"; exit 1; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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

torch_ms=$("$py" -c "
import time, statistics, torch
torch.set_num_threads(2)
ts = []
for _ in range($reps):
    t = time.perf_counter(); sd = torch.load('$tmp/model.pth'); ts.append((time.perf_counter() - t) * 1e3); del sd
print('%.3f %.3f' % (statistics.median(ts), min(ts)))
")
full_ms=$("$loader" "$tmp/full" "$reps")
split_ms=$("$loader" "$tmp/split" "$reps")
read -r tm tb <<<"$torch_ms"
read -r fm fb <<<"$full_ms"
read -r sm sb <<<"$split_ms"
printf '%-44s %10s %10s\n' "load of the seed model (vocab 100070)" "median ms" "best ms"
printf '%-44s %10s %10s\n' "torch.load(model.pth)" "$tm" "$tb"
printf '%-44s %10s %10s\n' "teelm model.safetensors (full layout)" "$fm" "$fb"
printf '%-44s %10s %10s\n' "teelm split layout (10 files)" "$sm" "$sb"
awk -v t="$tm" -v f="$fm" -v s="$sm" 'BEGIN { printf "ratio torch.load / teelm full: %.1fx, / teelm split: %.1fx (median)\n", t / f, t / s }'
