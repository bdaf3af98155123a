#!/usr/bin/env bash
# shellcheck disable=SC2317,SC2016  # check/eq/post are called indirectly; bash -c scripts take $1 $2 literally
# `teelm serve` on Hugging Face model directories (tl_lm engine), in sim mode over loopback:
#   - random-weight Llama (tokenizer.json in Llama 3's layout, BOS from the post-processor) and
#     GPT-2 (GPT-2's layout) models from tests/reference/make_hf_model.py, the model's vocabulary
#     equal to the tokenizer's;
#   - prompt ids from npm @huggingface/tokenizers (tests/reference/hf_tokenizer.js, add_special_tokens)
#     equal /tokenize's; greedy completions over HTTP equal `teelm generate` and the PyTorch
#     reference (tests/reference/hf_models.py generate) token for token (count and text);
#   - eight concurrent requests (batched: teelm_batch_size > 1 in /metrics) equal the same
#     requests made one at a time;
#   - EOS: a copy of the model whose generation_config names the reference's 5th token as EOS
#     stops there with finish_reason "stop" (the EOS adds no text), like the reference;
#   - the context (--ctx): prompt + max_tokens beyond it is a 400 naming max_tokens; without
#     max_tokens the default is capped to the room left; --ctx beyond max_position_embeddings and
#     --ctx on a seed model are refused at start;
#   - a sealed copy (key file) carrying its tokenizer files and chat template serves the same text;
#   - occlum-config sizes the weights as stored and the key/value caches at --ctx.
set -euo pipefail
SRC=${TEELM_SRC:-.}
# shellcheck source=tests/util/serve.sh
. "$SRC/tests/util/serve.sh"
"$PY" -c "import torch" 2>/dev/null || skip "$PY has no torch (Debian python3-torch)"
[ -d "$SRC/node_modules/@huggingface/tokenizers" ] || skip "npm @huggingface/tokenizers absent (scripts/install-deps.sh)"
command -v jq >/dev/null || skip "jq absent"

T=$(mktemp -d /tmp/teelm-servehf-XXXXXX)
fail=0
PIDS=()
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() { serve_cleanup "${PIDS[@]}"; }
trap cleanup EXIT
eq() { [ "$1" == "$2" ] || { echo "  got:  $1"; echo "  want: $2"; return 1; }; }

# start NAME ARGS...: starts `teelm serve` in the background; sets URL
start() {
  local name=$1; shift
  "$BIN" serve --tee sim --listen 127.0.0.1:0 --handshake-timeout 60 --quiet "$@" >"$T/$name.out" 2>"$T/$name.err" &
  PIDS+=($!)
  URL=$(serve_url "$T/$name.out" https 150 0.2 "${PIDS[-1]}") || { echo "FAIL: server $name did not start"; cat "$T/$name.err"; exit 1; }
}
post() { curl -sk --max-time 120 "$URL$1" -H 'Content-Type: application/json' -d "$2"; }

"$PY" "$SRC/tests/reference/make_hf_tokenizers.py" "$T/tok" "$SRC/README.md" 2000 >/dev/null
# Llama 3 layout: 2000 byte-level ranks + 6 added tokens (BOS 2000, EOS 2001 and 2005)
"$PY" "$SRC/tests/reference/make_hf_model.py" "$T/llama" --family llama --vocab 2006 --ctx 256 --d 64 --layers 2 \
  --heads 4 --kv-heads 2 --ff 160 --bos 2000 --eos 2001,2005 --seed 11 >/dev/null
cp "$T/tok/llama3/tokenizer.json" "$T/tok/llama3/tokenizer_config.json" "$T/llama/"
# GPT-2 layout: 2000 ranks + <|endoftext|> 2000
"$PY" "$SRC/tests/reference/make_hf_model.py" "$T/gpt2" --family gpt2 --vocab 2001 --ctx 128 --d 64 --layers 2 \
  --heads 4 --bos 2000 --eos 2000 --seed 12 >/dev/null
cp "$T/tok/gpt2/tokenizer.json" "$T/tok/gpt2/tokenizer_config.json" "$T/gpt2/"

PROMPTS=("The sales team" "Once upon a time, in a land far away" "1 + 1 = 2, 2 + 2 =" "Hello")
NEW=24
for fam in llama gpt2; do
  M=$T/$fam
  start "$fam" --model "$M" --ctx 96 --max-batch 4 --model-name "$fam"
  ref_ids() { # prompt text -> ids as HF's encode(add_special_tokens=True)
    printf 'E a %s\n' "$(printf '%s' "$1" | base64 -w0)" | node "$SRC/tests/reference/hf_tokenizer.js" "$M/tokenizer.json" \
      "$M/tokenizer_config.json"
  }
  for i in "${!PROMPTS[@]}"; do
    p=${PROMPTS[$i]}
    ids=$(ref_ids "$p")
    check "$fam: /tokenize equals npm @huggingface/tokenizers (prompt $i)" \
      eq "$(post /tokenize "$(jq -nc --arg p "$p" '{prompt:$p}')" | jq -r '.tokens | map(tostring) | join(" ")')" "$ids"
    "$PY" "$SRC/tests/reference/hf_models.py" generate "$M" --ids "${ids// /,}" --new $NEW --out "$T/ref$i.json"
    ref=$(jq -r '.tokens | map(tostring) | join(" ")' "$T/ref$i.json")
    gen=$("$BIN" generate --model "$M" --prompt-ids "${ids// /,}" --ids --max-tokens $NEW --temperature 0 --threads 2 | xargs)
    check "$fam: teelm generate equals the PyTorch reference (prompt $i)" eq "$gen" "$ids $ref"
    # the completion's text: generate's output less the decoded prompt it prints first
    "$BIN" generate --model "$M" --prompt-ids "${ids// /,}" --max-tokens $NEW --temperature 0 --threads 2 >"$T/gen$i.txt"
    # (generate prints the prompt as tl_tokenizer_decode gives it, which is what /detokenize returns)
    post /detokenize "{\"tokens\":[${ids// /,}]}" | jq -j .prompt >"$T/pre$i.txt"
    post /v1/completions "$(jq -nc --arg p "$p" --argjson n $NEW '{prompt:$p,max_tokens:$n,temperature:0}')" >"$T/$fam-one$i.json"
    want_text=$(
      "$PY" - "$T/gen$i.txt" "$T/pre$i.txt" <<'EOF'
import sys
g = open(sys.argv[1], "rb").read()
p = open(sys.argv[2], "rb").read().rstrip(b"\n")
assert g.startswith(p), "generate's output does not start with the decoded prompt"
sys.stdout.write(g[len(p):].rstrip(b"\n").decode("utf-8", "replace"))
EOF
    )
    check "$fam: HTTP text equals teelm generate (prompt $i)" eq "$(jq -j '.choices[0].text' "$T/$fam-one$i.json")" "$want_text"
    nref=$(jq '.tokens | length' "$T/ref$i.json")
    check "$fam: HTTP completion_tokens equals the reference's count (prompt $i)" \
      eq "$(jq .usage.completion_tokens "$T/$fam-one$i.json")" "$nref"
    check "$fam: HTTP prompt_tokens counts the BOS the tokenizer adds (prompt $i)" \
      eq "$(jq .usage.prompt_tokens "$T/$fam-one$i.json")" "$(wc -w <<<"$ids")"
  done
  # concurrency: 8 requests (the 4 prompts twice) at once on 4 batch slots. Whether two of them
  # overlap in the scheduler depends on timing (a tiny model finishes a request in milliseconds), so
  # rounds repeat, up to 6, until /metrics shows a forward pass over more than one sequence; every
  # round's completions must equal the one-at-a-time ones.
  batched=0
  for round in 1 2 3 4 5 6; do
    for k in 0 1 2 3 4 5 6 7; do
      i=$((k % 4))
      post /v1/completions "$(jq -nc --arg p "${PROMPTS[$i]}" --argjson n $NEW '{prompt:$p,max_tokens:$n,temperature:0}')" \
        >"$T/conc$k.json" &
    done
    wait_pids=$(jobs -p | grep -vxF "$(printf '%s\n' "${PIDS[@]}")" || true)
    for wp in $wait_pids; do wait "$wp"; done
    for k in 0 1 2 3 4 5 6 7; do
      i=$((k % 4))
      check "$fam: concurrent request $k equals the one-at-a-time completion (round $round)" \
        eq "$(jq -c '[.choices[0].text, .choices[0].finish_reason, .usage]' "$T/conc$k.json")" \
        "$(jq -c '[.choices[0].text, .choices[0].finish_reason, .usage]' "$T/$fam-one$i.json")"
    done
    batched=$(curl -sk "$URL/metrics" | awk '/^teelm_batch_size_bucket\{le="1"\}/ {one = $2} /^teelm_batch_size_count/ {all = $2} END {print all - one}')
    [ "${batched:-0}" -gt 0 ] && break
  done
  check "$fam: some forward passes decoded more than one sequence ($batched, after $round rounds)" test "${batched:-0}" -gt 0

  # n samples of one request's prompt: computed once (the others copy its cached rows: /metrics'
  # teelm_prompt_rows_shared_total grows by (n-1) x (prompt tokens - 1)), and each sample equals
  # an n=1 request with its seed (choice i: seed + i x 0x9E3779B97F4A7C15 mod 2^64, docs/api.md)
  shared() { curl -sk "$URL/metrics" | awk '/^teelm_prompt_rows_shared_total/ {print $2}'; }
  s0=$(shared)
  check "$fam: the identical concurrent requests above shared no cached rows (different requests never do)" eq "$s0" 0
  np=$(jq .usage.prompt_tokens "$T/$fam-one1.json")
  post /v1/completions "$(jq -nc --arg p "${PROMPTS[1]}" '{prompt:$p,max_tokens:12,temperature:1,seed:77,n:3}')" >"$T/n3.json"
  s1=$(shared)
  check "$fam: n=3 computes the prompt once (rows shared $s0 -> $s1, want +$((2 * (np - 1))))" \
    test "$((s1 - s0))" -ge "$((2 * (np - 1)))"
  for c in 0 1 2; do
    # (as a JSON integer: the int64 with those 64 bits, the request's seed being read as int64)
    sd=$("$PY" -c "s = (77 + $c * 0x9E3779B97F4A7C15) % 2**64; print(s - 2**64 if s >= 2**63 else s)")
    one=$(post /v1/completions "{\"prompt\":$(jq -c '.' <<<"\"${PROMPTS[1]}\""),\"max_tokens\":12,\"temperature\":1,\"seed\":$sd}")
    check "$fam: n=3 choice $c equals the n=1 request with seed $sd" \
      eq "$(jq -c "[.choices[$c].text, .choices[$c].finish_reason]" "$T/n3.json")" "$(jq -c '[.choices[0].text, .choices[0].finish_reason]' <<<"$one")"
  done

  # context: 96 positions
  # a prompt of 81..95 tokens: fewer than 16 (the default max_tokens) positions left
  for k in $(seq 30 95); do
    long=$(seq -s ' ' 1 "$k")
    nlong=$(post /tokenize "$(jq -nc --arg p "$long" '{prompt:$p}')" | jq .count)
    [ "$nlong" -gt 80 ] && break
  done
  r=$(post /v1/completions "$(jq -nc --arg p "$long" '{prompt:$p,max_tokens:40,temperature:0}')")
  check "$fam: prompt + max_tokens beyond --ctx is a 400 naming max_tokens" \
    eq "$(jq -c '[.error.param, .error.code, .error.type]' <<<"$r")" '["max_tokens","context_length_exceeded","invalid_request_error"]'
  check "$fam: the refusal states the context and the request's lengths" \
    bash -c '[[ "$1" == *"maximum context length is 96 tokens"*"($2 in the prompt, 40 in the completion)"* ]]' _ \
    "$(jq -r .error.message <<<"$r")" "$nlong"
  check "$fam: a prompt of $nlong tokens found" test "$nlong" -gt 80 -a "$nlong" -lt 96
  if [ "$nlong" -gt 80 ] && [ "$nlong" -lt 96 ]; then
    r=$(post /v1/completions "$(jq -nc --arg p "$long" '{prompt:$p,temperature:0}')")
    check "$fam: without max_tokens the default 16 is capped to the $((96 - nlong)) positions left" \
      eq "$(jq -c '[.usage.completion_tokens, .choices[0].finish_reason]' <<<"$r")" "[$((96 - nlong)),\"length\"]"
  fi
  kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'
done

# EOS from generation_config.json: the reference's 5th token of prompt 0 becomes an EOS id
M=$T/llama
ids=$(printf 'E a %s\n' "$(printf '%s' "${PROMPTS[0]}" | base64 -w0)" | node "$SRC/tests/reference/hf_tokenizer.js" "$M/tokenizer.json" "$M/tokenizer_config.json")
"$PY" "$SRC/tests/reference/hf_models.py" generate "$M" --ids "${ids// /,}" --new $NEW --out "$T/ref_eos0.json"
eos=$(jq '.tokens[4]' "$T/ref_eos0.json")
first=$(jq '.tokens | index('"$eos"')' "$T/ref_eos0.json")
cp -r "$M" "$T/llama_eos"
jq -c --argjson e "$eos" '.eos_token_id = [2001, $e]' "$M/generation_config.json" >"$T/llama_eos/generation_config.json"
"$PY" "$SRC/tests/reference/hf_models.py" generate "$T/llama_eos" --ids "${ids// /,}" --new $NEW --out "$T/ref_eos.json"
start eos --model "$T/llama_eos" --ctx 64 --model-name eos
r=$(post /v1/completions "$(jq -nc --arg p "${PROMPTS[0]}" --argjson n $NEW '{prompt:$p,max_tokens:$n,temperature:0}')")
check "EOS: the reference stops at the new EOS id" eq "$(jq '.tokens | length' "$T/ref_eos.json")" "$((first + 1))"
check "EOS: finish_reason stop after the reference's tokens, EOS included in the count" \
  eq "$(jq -c '[.choices[0].finish_reason, .usage.completion_tokens]' <<<"$r")" "[\"stop\",$((first + 1))]"
r2=$(post /v1/completions "$(jq -nc --arg p "${PROMPTS[0]}" --argjson n "$first" '{prompt:$p,max_tokens:$n,temperature:0}')")
check "EOS: the text is that of the tokens before the EOS (the EOS adds none)" \
  eq "$(jq -c '[.choices[0].text, .choices[0].finish_reason]' <<<"$r")" "$(jq -c '[.choices[0].text, "stop"]' <<<"$r2")"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'

# the sealed Llama model (key file), carrying tokenizer.json and a tokenizer_config.json with a chat
# template: the same completion as the plaintext directory, and /v1/models reports the model's template
cp -r "$T/llama" "$T/llama_chat"
jq -c '.chat_template = "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|> {{ m.content }}{% endfor %}"' \
  "$T/llama/tokenizer_config.json" >"$T/llama_chat/tokenizer_config.json"
"$BIN" seal --model "$T/llama_chat" --out "$T/llama.sealed" --key-out "$T/llama.key" >"$T/seal.out"
check "seal carries the tokenizer files of a Hugging Face directory" grep -q "tokenizer_config.json" "$T/seal.out"
start sealed --model "$T/llama.sealed" --key-file "$T/llama.key" --ctx 96 --model-name sealed
r=$(post /v1/completions "$(jq -nc --arg p "${PROMPTS[0]}" --argjson n $NEW '{prompt:$p,max_tokens:$n,temperature:0}')")
check "sealed: the completion equals the plaintext directory's" \
  eq "$(jq -c '[.choices[0].text, .usage]' <<<"$r")" "$(jq -c '[.choices[0].text, .usage]' "$T/llama-one0.json")"
check "sealed: /v1/models reports the carried chat template" \
  eq "$(curl -sk "$URL/v1/models" | jq -r '.data[0].chat_template')" "model"
r=$(post /v1/chat/completions '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"temperature":0}')
check "sealed: chat completion through the carried template" eq "$(jq -r '.object' <<<"$r")" "chat.completion"
# the prompt is the whole rendered string encoded (apply_chat_template's ids): the template's " "
# and the content's "Hello" make one piece " Hello" (3 ids), which encoding them apart splits (4)
jq -n --arg t "$(jq -r .chat_template "$T/llama_chat/tokenizer_config.json")" --arg j "$T/llama_chat/tokenizer.json" \
  --arg c "$T/llama_chat/tokenizer_config.json" \
  '{now: 0, tokenizers: {l: {json: $j, config: $c}}, cases: [{tokenizer: "l", template: $t,
    messages: [{role: "user", content: "Hello"}], bos_token: "", eos_token: "", add_generation_prompt: true}]}' >"$T/chat_case.json"
node "$SRC/tests/reference/chat_ids.js" "$T/chat_case.json" "$T/chat_ids.json"
check "sealed: chat prompt_tokens are apply_chat_template's ($(jq -c '.[0].ids' "$T/chat_ids.json"))" \
  eq "$(jq -r '.usage.prompt_tokens' <<<"$r")" "$(jq -r '.[0].ids | length' "$T/chat_ids.json")"
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true; unset 'PIDS[-1]'

# refusals at start
rc=0
msg=$(timeout 60 "$BIN" serve --model "$M" --tee sim --listen 127.0.0.1:0 --ctx 300 --quiet 2>&1) || rc=$?
check "--ctx beyond max_position_embeddings is refused at start (exit $rc)" \
  bash -c '[ "$1" = 1 ] && [[ "$2" == *"--ctx 300 is longer than the model'"'"'s max_position_embeddings 256"* ]]' _ "$rc" "$msg"

# occlum-config: weights as stored, caches at --ctx
w=$("$PY" - "$M/model.safetensors" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
print(sum(v["data_offsets"][1] - v["data_offsets"][0] for k, v in h.items() if k != "__metadata__"))
EOF
)
o1=$("$BIN" occlum-config --model "$M" --ctx 64 --max-batch 4)
o2=$("$BIN" occlum-config --model "$M" --ctx 128 --max-batch 4)
wl=$(awk '/^  weights/ {print $2}' <<<"$o1")
check "occlum-config: weights = the stored tensors + one decryption chunk ($wl MiB)" \
  "$PY" -c "import sys; sys.exit(abs(float('$wl') - ($w / 1048576 + 4)) > 0.06)"
w1=$(awk '/^  workspaces/ {print $2}' <<<"$o1")
w2=$(awk '/^  workspaces/ {print $2}' <<<"$o2")
# key and value caches: layers 2 x kv heads 2 x head dim 16 x 4 slots x 4 bytes x 2 (K and V) per position
kv=$(( 2 * 2 * 16 * 4 * 4 * 2 ))
check "occlum-config: 64 more --ctx positions add at least the key/value caches ($w1 -> $w2 MiB)" \
  "$PY" -c "import sys; sys.exit(not (float('$w2') - float('$w1') >= 64 * $kv / 1048576 - 0.06))"

if [ "$fail" = 0 ]; then echo "all ok"; else echo "some checks failed"; fi
exit $fail
