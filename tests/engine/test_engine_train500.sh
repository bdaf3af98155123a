#!/usr/bin/env bash
# 500 training steps of the seed model on sales_textbook.txt, in teelm and in the PyTorch prototype
# (tests/reference/train_ref.py), same settings (batch 4, context 16, lr 1e-3, dropout 0.1, AdamW
# defaults): teelm's validation loss must be within 0.15 of PyTorch's. Both are measured the same
# way after training: the mean over 200 random validation batches (more than the prototype's 20, so
# that batch sampling noise, ~0.02 here, stays well below the tolerance). Both sides read the same
# ids, produced by npm tiktoken (cl100k_base), so this does not depend on teelm's tokenizer.
set -u
bin=${TEELM_BIN:?}; src=${TEELM_SRC:?}; py=${TEELM_PYTHON:-/usr/bin/python3}
text=${TEELM_SHARED:-../shared}/data/sales_textbook.txt
skip() { echo "SKIP: $*"; exit 77; }
[ -f "$text" ] || skip "$text is absent"
command -v node >/dev/null || skip "node is not installed"
[ -d "$src/node_modules/tiktoken" ] || skip "npm tiktoken is not installed ($src/node_modules; run scripts/install-deps.sh)"
"$py" -c "import torch" 2>/dev/null || skip "PyTorch is not available to $py"
dir=$(mktemp -d /tmp/teelm-train500.XXXXXX)
trap 'rm -rf "$dir"' EXIT
NODE_PATH="$src/node_modules" node "$src/tests/reference/tiktoken_ids.js" "$text" "$dir/ids.bin" || { echo "FAIL: tokenizing"; exit 1; }
echo "$(( $(stat -c %s "$dir/ids.bin") / 4 )) tokens"

start=$(date +%s)
"$bin" train --tokens "$dir/ids.bin" --out "$dir/m" --steps 500 --eval-interval 500 --eval-iters 200 \
  --threads 2 >"$dir/teelm.log" 2>"$dir/teelm.err" || { echo "FAIL: teelm train"; cat "$dir/teelm.err"; exit 1; }
mid=$(date +%s)
ours=$(sed -n 's/^step 500: .*val loss \([0-9.]*\)$/\1/p' "$dir/teelm.log")
OMP_NUM_THREADS=2 "$py" "$src/tests/reference/train_ref.py" "$dir/ids.bin" --steps 500 --eval-iters 200 \
  >"$dir/torch.json" || { echo "FAIL: PyTorch reference"; exit 1; }
end=$(date +%s)
theirs=$("$py" -c "import json; print(json.load(open('$dir/torch.json'))['val_loss'])")
echo "val loss after 500 steps: teelm $ours ($((mid - start)) s), PyTorch $theirs ($((end - mid)) s)"
[ -n "$ours" ] || { echo "FAIL: no 'step 500' line"; cat "$dir/teelm.log"; exit 1; }
"$py" -c "import sys; d=abs($ours-$theirs); print('difference %.3f (tolerance 0.15)' % d); sys.exit(0 if d <= 0.15 else 1)"
