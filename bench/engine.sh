#!/usr/bin/env bash
# teelm against PyTorch (Debian python3-torch) on the seed model with the 100070-token vocabulary of
# sales_textbook.txt, 2 threads each (torch.set_num_threads(2), OMP_NUM_THREADS=2), in one run:
#   training: ms per step (batch 4 x 16 tokens, forward + backward + AdamW over all parameters)
#   generation: the prototype's loop (prompt "The", 100 tokens, window of 16), tokens/s
#   peak resident memory of each process (/usr/bin/time)
# Prints the ratios. Environment: TEELM_BIN (default build/teelm), TORCH_STEPS (30), TEELM_STEPS (300),
# GEN_RUNS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TEELM_BIN:-build/teelm}
py=/usr/bin/python3
text=${TEELM_SHARED:-../shared}/data/sales_textbook.txt
torch_steps=${TORCH_STEPS:-30}; teelm_steps=${TEELM_STEPS:-300}; runs=${GEN_RUNS:-5}
tmp=$(mktemp -d /tmp/teelm-bench-engine.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2
[ -x "$bin" ] || { echo "bench/engine.sh: build teelm first (make build)"; exit 1; }
[ -f "$text" ] || { echo "bench/engine.sh: $text is absent"; exit 1; }
NODE_PATH="$PWD/node_modules" node tests/reference/tiktoken_ids.js "$text" "$tmp/ids.bin"

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- training ----
/usr/bin/time -f %M -o "$tmp/torch_train.rss" "$py" tests/reference/train_ref.py "$tmp/ids.bin" \
  --steps "$torch_steps" --no-eval --threads 2 >"$tmp/torch_train.json"
torch_ms=$("$py" -c "import json; print('%.1f' % json.load(open('$tmp/torch_train.json'))['ms_per_step'])")
/usr/bin/time -f %M -o "$tmp/teelm_train.rss" "$bin" train --tokens "$tmp/ids.bin" --out "$tmp/m" \
  --steps "$teelm_steps" --eval-interval 0 --threads 2 >/dev/null 2>"$tmp/teelm_train.err"
teelm_ms=$(sed -n 's/.*: \([0-9.]*\) ms\/step.*/\1/p' "$tmp/teelm_train.err")

# ---- generation ----
# from the weights alone: a training output also holds optimizer.safetensors, which loading brings
# into memory too (2 x 51 MB of AdamW moments that generation does not use)
mkdir "$tmp/g" && cp "$tmp/m/model.safetensors" "$tmp/g/"
/usr/bin/time -f %M -o "$tmp/torch_gen.rss" "$py" bench/engine_gen_ref.py --runs 3 --threads 2 >"$tmp/torch_gen.json"
torch_tps=$("$py" -c "import json; print('%.1f' % json.load(open('$tmp/torch_gen.json'))['tokens_per_s'])")
: >"$tmp/teelm_gen.rates"
for _ in $(seq "$runs"); do
  /usr/bin/time -f %M -o "$tmp/teelm_gen.rss" "$bin" generate --model "$tmp/g" --prompt-ids 791 --ids \
    --max-tokens 100 --threads 2 --stats >/dev/null 2>"$tmp/teelm_gen.err"
  sed -n 's/.*: \([0-9.]*\) tokens\/s/\1/p' "$tmp/teelm_gen.err" >>"$tmp/teelm_gen.rates"
done
teelm_tps=$(sort -n "$tmp/teelm_gen.rates" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

mb() { awk '{printf "%.0f", $1/1024}' "$1"; }
printf '%-34s %12s %12s %8s\n' "" "PyTorch" "teelm" "ratio"
printf '%-34s %12s %12s %7.1fx\n' "training ms/step (lower is better)" "$torch_ms" "$teelm_ms" \
  "$(echo "$torch_ms / $teelm_ms" | bc -l)"
printf '%-34s %12s %12s %7.1fx\n' "generation tokens/s" "$torch_tps" "$teelm_tps" \
  "$(echo "$teelm_tps / $torch_tps" | bc -l)"
printf '%-34s %12s %12s\n' "training peak RSS (MB)" "$(mb "$tmp/torch_train.rss")" "$(mb "$tmp/teelm_train.rss")"
printf '%-34s %12s %12s\n' "generation peak RSS (MB)" "$(mb "$tmp/torch_gen.rss")" "$(mb "$tmp/teelm_gen.rss")"
echo "(teelm generation loads model.safetensors only; PyTorch builds the model in memory)"
echo "training ratio: $(echo "$torch_ms / $teelm_ms" | bc -l | xargs printf '%.1f')x (goal >= 5x)"
echo "generation ratio: $(echo "$teelm_tps / $torch_tps" | bc -l | xargs printf '%.1f')x (goal >= 30x)"
