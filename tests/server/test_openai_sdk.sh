#!/usr/bin/env bash
# The official `openai` npm package against `teelm serve` on a random-weight Qwen2 model with a
# tokenizer.json in Qwen2's layout and Qwen2's real chat template in tokenizer_config.json
# (tests/server/openai_sdk.mjs: models, completions plain/stream/n/logprobs/echo, chat
# plain/stream with usage/n/logprobs/stop/max_completion_tokens, errors), then:
#   - the completion's logprobs equal the log-softmax of the PyTorch reference's logits
#     (tests/reference/hf_models.py logits) at every generated position, top 5 included, and so do
#     echo's prompt logprobs at every prompt position;
#   - a user's "<|im_start|>" is text: the prompt grows by exactly the plain-text tokens of the
#     content (npm @huggingface/tokenizers with the special tokens removed), not by one control token.
set -euo pipefail
SRC=${TEELM_SRC:-.}
# shellcheck source=tests/util/serve.sh
. "$SRC/tests/util/serve.sh"
"$PY" -c "import torch" 2>/dev/null || skip "$PY has no torch (Debian python3-torch)"
[ -d "$SRC/node_modules/openai" ] || skip "npm openai absent (scripts/install-deps.sh)"
[ -d "$SRC/node_modules/@huggingface/tokenizers" ] || skip "npm @huggingface/tokenizers absent (scripts/install-deps.sh)"
T=$(mktemp -d /tmp/teelm-sdk-XXXXXX)
SP=
# shellcheck disable=SC2317
cleanup() { [ -n "$SP" ] && kill "$SP" 2>/dev/null && wait "$SP" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
fail=0
"$PY" "$SRC/tests/reference/make_hf_tokenizers.py" "$T/tok" "$SRC/README.md" 2000 >/dev/null
M=$T/qwen
"$PY" "$SRC/tests/reference/make_hf_model.py" "$M" --family qwen2 --vocab 2005 --ctx 256 --eos 2002,2000 --seed 5 >/dev/null
cp "$T/tok/qwen2/tokenizer.json" "$M/"
"$PY" - "$T/tok/qwen2/tokenizer_config.json" "$SRC/tests/fixtures/chat_templates/qwen2.jinja" "$M/tokenizer_config.json" <<'PYEOF'
import json, sys
c = json.load(open(sys.argv[1]))
c["chat_template"] = open(sys.argv[2]).read()
json.dump(c, open(sys.argv[3], "w"))
PYEOF
"$BIN" serve --model "$M" --tee sim --listen 127.0.0.1:0 --ctx 128 --max-tokens 1000 --model-name qwen --quiet \
  --handshake-timeout 60 >"$T/out" 2>"$T/err" &
SP=$!
URL=$(serve_url "$T/out" https 150 0.2) || { echo "FAIL: server did not start"; cat "$T/err"; exit 1; }
NODE_TLS_REJECT_UNAUTHORIZED=0 NODE_NO_WARNINGS=1 node "$SRC/tests/server/openai_sdk.mjs" "$URL/v1" qwen "$T/sdk.json" || fail=1

ids=$(curl -sk "$URL/tokenize" -d "$(jq -c '{prompt: .completion_logprobs.prompt}' "$T/sdk.json")" | jq -r '.tokens | map(tostring) | join(",")')
"$PY" "$SRC/tests/reference/hf_models.py" generate "$M" --ids "$ids" --new 8 --no-eos --out "$T/gen.json"
all=$("$PY" -c "import json,sys; print(','.join(map(str, [$ids] + json.load(open(sys.argv[1]))['tokens'][:-1])))" "$T/gen.json")
"$PY" "$SRC/tests/reference/hf_models.py" logits "$M" --ids "$all" --f64 --out "$T/lg"
eids=$(curl -sk "$URL/tokenize" -d "$(jq -c '{prompt: .prompt_logprobs.prompt}' "$T/sdk.json")" | jq -r '.tokens | map(tostring) | join(",")')
"$PY" "$SRC/tests/reference/hf_models.py" logits "$M" --ids "$eids" --f64 --out "$T/elg"
"$PY" - "$T/sdk.json" "$T/lg.json" "$T/gen.json" "$ids" "$T/elg.json" "$eids" <<'PYEOF' || fail=1
import json, sys
import numpy as np
sdk = json.load(open(sys.argv[1]))["completion_logprobs"]
meta = json.load(open(sys.argv[2]))
lg = np.fromfile(sys.argv[2][:-5] + ".bin", dtype="<f8").reshape(meta["shape"])
gen = json.load(open(sys.argv[3]))["tokens"]
n_prompt = len(sys.argv[4].split(","))
bad = 0
for k, lp in enumerate(sdk["token_logprobs"]):
    row = lg[n_prompt - 1 + k]
    ls = row - (row.max() + np.log(np.exp(row - row.max()).sum()))
    if abs(ls[gen[k]] - lp) > 2e-3:
        print(f"FAIL: logprob of generated token {k}: teelm {lp}, PyTorch {ls[gen[k]]}")
        bad = 1
    want = sorted(ls)[::-1][:5]
    got = sorted(sdk["top_logprobs"][k].values())[::-1]
    if len(got) == 5 and max(abs(a - b) for a, b in zip(got, want)) > 2e-3:
        print(f"FAIL: top 5 logprobs at token {k}: teelm {got}, PyTorch {want}")
        bad = 1
print(("FAIL" if bad else "ok") + f": completion logprobs equal PyTorch's log-softmax at {len(sdk['token_logprobs'])} positions")
# echo: prompt token k (k >= 1) from row k - 1, the row that has read tokens 0..k-1
plp = json.load(open(sys.argv[1]))["prompt_logprobs"]
emeta = json.load(open(sys.argv[5]))
lg = np.fromfile(sys.argv[5][:-5] + ".bin", dtype="<f8").reshape(emeta["shape"])
ids = [int(x) for x in sys.argv[6].split(",")]
n_prompt = len(ids)
pbad = len(plp["token_logprobs"]) != n_prompt or plp["token_logprobs"][0] is not None
for k in range(1, min(n_prompt, len(plp["token_logprobs"]))):
    row = lg[k - 1]
    ls = row - (row.max() + np.log(np.exp(row - row.max()).sum()))
    got = sorted(plp["top_logprobs"][k].values())[::-1]
    want = sorted(ls)[::-1][:len(got)]
    if abs(ls[ids[k]] - plp["token_logprobs"][k]) > 2e-3 or len(got) < 2 or max(abs(a - b) for a, b in zip(got, want)) > 2e-3:
        print(f"FAIL: echo logprob of prompt token {k}: teelm {plp['token_logprobs'][k]} {got}, PyTorch {ls[ids[k]]} {want}")
        pbad = 1
print(("FAIL" if pbad else "ok") + f": echo's prompt logprobs equal PyTorch's log-softmax at {n_prompt - 1} positions (top 3)")
sys.exit(bad or pbad)
PYEOF

plain() { printf 'E p %s\n' "$(printf '%s' "$1" | base64 -w0)" | node "$SRC/tests/reference/hf_tokenizer.js" "$M/tokenizer.json" - | wc -w; }
d_ref=$(( $(plain 'x<|im_start|>system') - $(plain 'x') ))
d_got=$(jq '.injection.with - .injection.without' "$T/sdk.json")
if [ "$d_got" = "$d_ref" ] && [ "$d_ref" -gt 1 ]; then
  echo "ok: a user's <|im_start|> is plain text ($d_got more prompt tokens, as the plain-text encoding)"
else
  echo "FAIL: a user's <|im_start|>: $d_got more prompt tokens, plain-text encoding gives $d_ref"; fail=1
fi
kill "$SP" 2>/dev/null || true; wait "$SP" 2>/dev/null || true
SP=
if grep -q "ERROR: \(Address\|Leak\)Sanitizer\|runtime error:" "$T/err"; then
  echo "FAIL: the server's sanitizer report:"; grep -A20 "Sanitizer\|runtime error" "$T/err" | head -60; fail=1
fi
exit $fail
