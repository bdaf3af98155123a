#!/usr/bin/env bash
# Real-model shapes, random weights: teelm against PyTorch eager (tests/reference/hf_models.py via
# bench/models_ref.py) on the same weights, 2 threads each, in one run:
#   smollm135: Llama d 576, 30 layers, 9 heads, 3 KV heads, FF 1536, vocab 49152, tied (SmolLM-135M's shape)
#   gpt2-124:  GPT-2 d 768, 12 layers, 12 heads, FF 3072, vocab 50257, ctx 1024
# Prompt tokens/s (128-token prompt), generated tokens/s (64 greedy tokens, KV cache), peak RSS.
# teelm runs only if `teelm generate` accepts a Hugging Face directory (probed on a tiny one); until
# then this prints why and gives the PyTorch side alone. teelm's prompt rate is derived from its
# --stats line: 128 / time(--max-tokens 1); its generation rate 64 / (time(--max-tokens 65) - that).
# Environment: TEELM_BIN (default build/teelm), RUNS (3), BANDWIDTH_GBS (19, for the bound printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TEELM_BIN:-build/teelm}
py=/usr/bin/python3
runs=${RUNS:-3}
bw=${BANDWIDTH_GBS:-19}
tmp=$(mktemp -d /tmp/teelm-bench-models.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=2
mk=tests/reference/make_hf_model.py

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"

teelm_ok=0
if [ -x "$bin" ]; then
  "$py" "$mk" "$tmp/probe" --family llama --d 32 --heads 4 --kv-heads 2 --vocab 97 >/dev/null
  if "$bin" generate --model "$tmp/probe" --prompt-ids 1,2,3 --ids --max-tokens 2 --temperature 0 \
      >"$tmp/probe.out" 2>"$tmp/probe.err"; then
    teelm_ok=1
  else
    echo "teelm side skipped: '$bin generate' does not accept a Hugging Face model directory yet:"
    sed 's/^/  /' "$tmp/probe.err" | head -3
  fi
else
  echo "teelm side skipped: $bin is absent (make build)"
fi

ms_of() { sed -n 's/.*generated [0-9]* tokens in \([0-9.]*\) ms.*/\1/p' "$1"; }
mb() { awk '{printf "%.0f", $1/1024}' "$1"; }
j() { "$py" -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"; }

for shape in smollm135 gpt2-124; do
  case $shape in
    smollm135) args="--family llama --d 576 --layers 30 --heads 9 --kv-heads 3 --ff 1536 --vocab 49152 --ctx 2048";;
    gpt2-124) args="--family gpt2 --d 768 --layers 12 --heads 12 --ff 3072 --vocab 50257 --ctx 1024";;
  esac
  prompt=$("$py" -c "print(','.join(str((i * 7919 + 13) % 49152) for i in range(128)))")
  if [ "$teelm_ok" = 1 ]; then
    # shellcheck disable=SC2086
    "$py" "$mk" "$tmp/$shape" $args --seed 0 >/dev/null
    src=(--model "$tmp/$shape")
  else
    src=(--shape "$shape")
  fi
  /usr/bin/time -f %M -o "$tmp/$shape.torch.rss" "$py" bench/models_ref.py "${src[@]}" --prompt-ids "$prompt" \
    --new 64 --runs "$runs" --threads 2 --bandwidth-gbs "$bw" >"$tmp/$shape.torch.json"
  t_p=$(j "$tmp/$shape.torch.json" prompt_tokens_per_s)
  t_g=$(j "$tmp/$shape.torch.json" generated_tokens_per_s)
  t_rss=$(mb "$tmp/$shape.torch.rss")
  bound=$(j "$tmp/$shape.torch.json" generation_bound_tokens_per_s)
  params=$(j "$tmp/$shape.torch.json" params)
  echo
  echo "$shape: $params parameters; F32 generation bound at $bw GB/s: $bound tokens/s"
  if [ "$teelm_ok" = 1 ]; then
    best1=""; best65=""
    for _ in $(seq "$runs"); do
      "$bin" generate --model "$tmp/$shape" --prompt-ids "$prompt" --ids --max-tokens 1 --temperature 0 \
        --threads 2 --stats >/dev/null 2>"$tmp/t1.err"
      /usr/bin/time -f %M -o "$tmp/$shape.teelm.rss" "$bin" generate --model "$tmp/$shape" --prompt-ids "$prompt" \
        --ids --max-tokens 65 --temperature 0 --threads 2 --stats >"$tmp/$shape.teelm.out" 2>"$tmp/t65.err"
      a=$(ms_of "$tmp/t1.err"); b=$(ms_of "$tmp/t65.err")
      best1=$(echo "${best1:-$a} $a" | awk '{print ($1 < $2) ? $1 : $2}')
      best65=$(echo "${best65:-$b} $b" | awk '{print ($1 < $2) ? $1 : $2}')
    done
    e_p=$(echo "128 / ($best1 / 1000)" | bc -l | xargs printf '%.1f')
    e_g=$(echo "64 / (($best65 - $best1) / 1000)" | bc -l | xargs printf '%.1f')
    e_rss=$(mb "$tmp/$shape.teelm.rss")
    ref_first=$("$py" -c "import json,sys; print(' '.join(map(str, json.load(open(sys.argv[1]))['first_tokens'])))" \
      "$tmp/$shape.torch.json")
    if tr ' ' '\n' <"$tmp/$shape.teelm.out" | sed -n '129,136p' | xargs | grep -qx "$ref_first"; then
      agree="first 8 greedy tokens agree"
    else
      agree="first 8 greedy tokens DIFFER (reference: $ref_first)"
    fi
  else
    e_p=-; e_g=-; e_rss=-; agree="teelm not run"
  fi
  printf '  %-28s %12s %12s\n' "" "PyTorch" "teelm"
  printf '  %-28s %12s %12s\n' "prompt tokens/s (128)" "$t_p" "$e_p"
  printf '  %-28s %12s %12s\n' "generated tokens/s (64)" "$t_g" "$e_g"
  printf '  %-28s %12s %12s\n' "peak RSS (MB)" "$t_rss" "$e_rss"
  echo "  ($agree)"
done
echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
