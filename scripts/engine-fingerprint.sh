#!/usr/bin/env bash
# Prints fingerprints of what the engine computes, for "bit-identical before and after" checks of a
# refactor: run it with the old and the new binary and diff the outputs.
#   scripts/engine-fingerprint.sh TEELM_BIN [WORKDIR]
# It trains the seed model a few steps (the losses and the SHA-256 of the weights written), samples
# from it, tokenizes text with cl100k_base, and generates greedily and by sampling from random-weight
# Llama, Qwen2 and GPT-2 directories (tests/reference/make_hf_model.py) and from their GGUF Q4_0 and
# Q8_0 files. Needs python3 with torch (the model writer) and ../shared (the corpus, cl100k_base).
set -euo pipefail
bin=$(realpath "${1:?usage: scripts/engine-fingerprint.sh TEELM_BIN [WORKDIR]}")
src=$(cd "$(dirname "$0")/.." && pwd)
work=${2:-$(mktemp -d /tmp/teelm-fingerprint.XXXXXX)}
shared=${TEELM_SHARED:-$src/../shared}
py=${TEELM_PYTHON:-/usr/bin/python3}
mkdir -p "$work"
[ -f "$shared/data/cl100k_base.tiktoken" ] || { echo "engine-fingerprint: needs $shared/data"; exit 2; }
head -c 300000 "$shared/data/sales_textbook.txt" >"$work/corpus.txt"
tik=$shared/data/cl100k_base.tiktoken

echo "tokenize: $("$bin" tokenize --tokenizer "$tik" --input "$work/corpus.txt" | sha256sum | cut -c1-16)"
rm -rf "$work/seed"
"$bin" train --data "$work/corpus.txt" --tokenizer "$tik" --out "$work/seed" --steps 6 --batch 2 \
  --eval-interval 3 --eval-iters 2 --threads 2 --seed 7 2>/dev/null | grep -E '^step' || true
# the tensors' bytes: the header holds a fresh checkpoint_id on every save
echo "seed weights: $("$py" -c 'import struct,sys,hashlib; d=open(sys.argv[1],"rb").read(); n=struct.unpack("<Q",d[:8])[0]; print(hashlib.sha256(d[8+n:]).hexdigest()[:16])' "$work/seed/model.safetensors")"
for t in 0 1; do
  echo "seed generate T=$t: $("$bin" generate --model "$work/seed" --prompt 'The sales' --max-tokens 24 \
    --temperature "$t" --seed 3 --ids --threads 2 2>/dev/null | sha256sum | cut -c1-16)"
done
for fam in "llama --kv-heads 2" "qwen2 --kv-heads 2 --attention-bias" "gpt2"; do
  name=${fam%% *}
  rm -rf "${work:?}/${name:?}"
  # shellcheck disable=SC2086  # fam holds the family's words
  "$py" "$src/tests/reference/make_hf_model.py" "$work/$name" --family $fam --d 64 --ff 128 --heads 4 --layers 2 \
    --vocab 1001 --seed 11 >/dev/null
  for ty in Q8_0 Q4_0; do
    "$bin" quantize --model "$work/$name" --out "$work/$name-$ty.gguf" --type "$ty" >/dev/null 2>&1
  done
  for m in "$work/$name" "$work/$name-Q8_0.gguf" "$work/$name-Q4_0.gguf"; do
    for t in 0 1; do
      echo "$(basename "$m") T=$t: $("$bin" generate --model "$m" --prompt-ids 3,17,5,96,42 --max-tokens 24 \
        --temperature "$t" --seed 3 --ids --threads 2 2>/dev/null | sha256sum | cut -c1-16)"
    done
  done
done
