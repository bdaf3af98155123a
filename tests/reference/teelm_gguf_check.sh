#!/usr/bin/env bash
# teelm's GGUF support against llama.cpp (npm node-llama-cpp 3.21.1, its prebuilt CPU build; CTest
# test_gguf_generate):
#   1. a matrix of random-weight GGUF files written by the independent writer make_gguf.py (llama with
#      byte-level and SentencePiece tokenizers, GQA, untied, Mistral/TinyLlama-like shapes; qwen2;
#      gpt2; F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K; GGUF v2 and v3; alignment 32 and 64): 64 greedy tokens of
#      `teelm generate --temperature 0 --ids` equal llama_cpp_ref.mjs's (EOS honoured on both sides);
#   1b. seeds 101.. of files whose every step is llama.cpp's arithmetic (llama and qwen2 in F32,
#      F16, Q8_0, Q4_0, Q4_K, Q6_K and the Q4_K_M mix; gpt2 in Q8_0 and Q4_K): every one gives
#      llama.cpp's 64 tokens, with no near-tie allowance;
#   2. the embedded tokenizers (gpt2 with pre gpt-2 / llama-bpe / qwen2, llama SentencePiece): teelm
#      tokenize --model FILE.gguf equals llama.cpp's tokenize for several texts, and with special tokens
#      parsed;
#   2b. every F16/BF16/quantized file of the matrix sealed: the same greedy tokens and text; a quantized
#      GPT-2 exported to a Hugging Face directory and to an F32 GGUF: the same model;
#   2c. GGUF files teelm writes (export --format gguf, quantize) from Hugging Face directories of
#      llama (byte-level, Llama 2 and Mistral SentencePiece tokenizers), qwen2 and gpt2 in
#      F32/F16/Q8_0/Q4_0: llama.cpp's tokens and tokenization;
#   3. a file carrying tokenizer.chat_template: serve renders chats with it, apply_chat_template's ids;
#   4. every make_gguf.py --hostile mode: teelm exits 1 (no signal, no sanitizer report) with a message
#      naming what is wrong.
# Environment: TEELM_BIN, TEELM_PYTHON (default /usr/bin/python3), TEELM_SANITIZE.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$here/../..
bin=${TEELM_BIN:-$root/build/teelm}
py=${TEELM_PYTHON:-/usr/bin/python3}
# shellcheck source=tests/util/skip.sh
. "$here/../util/skip.sh"
"$py" -c "import numpy" 2>/dev/null || skip "$py has no numpy (Debian python3-numpy)"
[ -f "$root/node_modules/node-llama-cpp/package.json" ] || skip "npm node-llama-cpp is not installed (scripts/install-deps.sh)"
[ -x "$bin" ] || { echo "FAIL: $bin is absent"; exit 1; }
tmp=$(mktemp -d /tmp/teelm-ggufcheck.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# llama.cpp runs in one `llama_cpp_ref.mjs serve` process for the whole test (starting it costs more than
# a small model's run): ref writes one request line to it and prints its one-line answer ("ERR ..." goes
# to stderr with status 1); fds 3 and 4 are inherited by the $(...) subshells, which call ref in turn
mkfifo "$tmp/ref.in" "$tmp/ref.out"
(cd "$root" && exec node tests/reference/llama_cpp_ref.mjs serve <"$tmp/ref.in" >"$tmp/ref.out" 2>"$tmp/ref.log") &
exec 3>"$tmp/ref.in" 4<"$tmp/ref.out"
ref() {
  local IFS=$'\t' line
  printf '%s\n' "$*" >&3
  IFS= read -r -t 600 line <&4 || { echo "llama_cpp_ref.mjs serve gave no answer:"; cat "$tmp/ref.log"; } >&2
  case "$line" in ERR*) echo "${line#ERR }" >&2; return 1 ;; esac
  echo "$line"
}

# tokenizers: make_hf_tokenizers.py's layouts (byte-level vocabulary from cl100k_base, SentencePiece
# vocabulary trained on the repository's own docs)
cat "$root"/docs/*.md >"$tmp/corpus.txt"
TMPDIR=$tmp "$py" "$here/make_hf_tokenizers.py" "$tmp/tok" "$tmp/corpus.txt" 1500 >/dev/null ||
  { echo "FAIL: make_hf_tokenizers.py"; exit 1; }

fail=0 pass=0 xfail=0
prompt=3,17,5,96,42,7,11,64
n=0
while read -r name tok pre args; do
  [ -z "$name" ] && continue
  n=$((n + 1))
  [ "${TEELM_SANITIZE:-0}" = 1 ] && [ "$n" -gt 4 ] && continue
  f="$tmp/m$n.gguf"
  # shellcheck disable=SC2086
  "$py" "$here/make_gguf.py" "$f" --tokenizer "$tmp/tok/$tok/tokenizer.json" --pre "$pre" $args --seed $n ||
    { echo "FAIL $name: make_gguf"; fail=$((fail + 1)); continue; }
  want=$(ref generate "$f" 64 "$prompt" 2>"$tmp/referr" | tail -1)
  [ -n "$want" ] || { echo "FAIL $name: llama.cpp"; sed 's/^/  /' "$tmp/referr" | head -5; fail=$((fail + 1)); continue; }
  got=$("$bin" generate --model "$f" --prompt-ids "$prompt" --ids --max-tokens 64 --temperature 0 --threads 2 \
    2>"$tmp/err" | xargs | cut -d' ' -f9- | tr ' ' ',')
  if [ "$got" = "$want" ]; then
    echo "ok   $name: $(echo "$want" | tr ',' '\n' | wc -l) greedy tokens identical to llama.cpp's"
    pass=$((pass + 1))
  else
    same=0
    IFS=, read -ra W <<<"$want"; IFS=, read -ra G <<<"$got"
    while [ "$same" -lt "${#W[@]}" ] && [ "${W[$same]}" = "${G[$same]:-}" ]; do same=$((same + 1)); done
    if [[ "$name" == *bf16* ]] && [ "$same" -ge 8 ]; then
      # BF16: teelm rounds the activations as ggml does, but sums otherwise than ggml's vdpbf16ps
      # (docs/gguf.md "Numbers against llama.cpp": every other type here is its arithmetic to the
      # bit), and a rounding can resolve a near-tie otherwise: reported, not failed; the first 8
      # tokens must still agree, so a broken path fails
      echo "xfail $name: first $same greedy tokens identical, then differ (a near-tie)"
      xfail=$((xfail + 1))
    else
      echo "FAIL $name: greedy tokens differ after $same identical"
      echo "  llama.cpp: $want"; echo "  teelm:     $got"
      sed 's/^/  /' "$tmp/err" | head -3
      fail=$((fail + 1))
    fi
  fi
  # a quantized GPT-2 holds its Conv1D matrices as [out, in] (model/weights.h): exported to a
  # Hugging Face directory they are dequantized and transposed back to Conv1D's [in, out]; exported
  # to an F32 GGUF they stay [out, in] (llama.cpp's tokens on it), and that file read back and
  # exported to a directory gives the same bytes (one transposition wrong, and they differ)
  if [ "$name" = gpt2-q4_k ]; then
    a='' b='' c=''
    if "$bin" export --model "$f" --out "$tmp/gq-hf" >/dev/null 2>"$tmp/err" &&
      "$bin" export --model "$f" --out "$tmp/gq-f32.gguf" --format gguf --quantize F32 >/dev/null 2>>"$tmp/err" &&
      "$bin" export --model "$tmp/gq-f32.gguf" --out "$tmp/gq-hf2" >/dev/null 2>>"$tmp/err"; then
      b=$("$bin" generate --model "$tmp/gq-f32.gguf" --prompt-ids "$prompt" --ids --max-tokens 64 --temperature 0 \
        2>>"$tmp/err" | xargs | cut -d' ' -f9- | tr ' ' ',')
      c=$(ref generate "$tmp/gq-f32.gguf" 64 "$prompt" 2>"$tmp/referr" | tail -1)
      cmp -s "$tmp/gq-hf/model.safetensors" "$tmp/gq-hf2/model.safetensors" && a=same
    fi
    if [ "$a" = same ] && [ -n "$b" ] && [ "$b" = "$c" ]; then
      echo "ok   $name exported: its directory's weights are those of its F32 GGUF's, which gives llama.cpp's tokens"
      pass=$((pass + 1))
    else
      echo "FAIL $name exported: safetensors ${a:-differ}; F32 GGUF teelm $b, llama.cpp $c"; sed 's/^/  /' "$tmp/err" | head -3
      fail=$((fail + 1))
    fi
  fi
  # quantized and half files sealed (their weights stay in the file's types, shapes and metadata
  # encrypted): the same tokens as the plaintext file, through the carried tokenizer too
  if [[ "$args" == *--dtype* ]] && [ -n "$got" ]; then
    "$bin" seal --model "$f" --out "$f.sealed" --key-out "$f.key" >"$tmp/seal.out" 2>"$tmp/err" &&
      sgot=$("$bin" generate --model "$f.sealed" --key-file "$f.key" --prompt-ids "$prompt" --ids --max-tokens 64 \
        --temperature 0 --threads 2 2>>"$tmp/err" | xargs | cut -d' ' -f9- | tr ' ' ',') || sgot=
    stext=$("$bin" generate --model "$f.sealed" --key-file "$f.key" --prompt "Hello" --max-tokens 3 --temperature 0 2>&1)
    ptext=$("$bin" generate --model "$f" --prompt "Hello" --max-tokens 3 --temperature 0 2>&1)
    if [ "$sgot" = "$got" ] && [ "$stext" = "$ptext" ] && grep -q "carrying tokenizer.json" "$tmp/seal.out" &&
      ! grep -qaE "blk\.0\.attn_q|layers\.0\.|tokenizer\.ggml|general\.architecture" "$f.sealed"; then
      echo "ok   $name sealed: the plaintext file's tokens and text, no tensor name in the clear"
      pass=$((pass + 1))
    else
      echo "FAIL $name sealed: tokens $sgot, text '$stext' (plaintext '$ptext')"; sed 's/^/  /' "$tmp/err" | head -3
      fail=$((fail + 1))
    fi
    # unsealed, a quantized file comes back as a GGUF file (block types have no safetensors form),
    # mode 0600, with llama.cpp's tokens
    if [[ "$name" == *-q4_k ]]; then
      ugot='' uref='' umode=''
      if "$bin" unseal --model "$f.sealed" --key-file "$f.key" --out "$f.un" >/dev/null 2>>"$tmp/err"; then
        umode=$(stat -c %a "$f.un/model.gguf")
        ugot=$("$bin" generate --model "$f.un/model.gguf" --prompt-ids "$prompt" --ids --max-tokens 64 --temperature 0 \
          2>>"$tmp/err" | xargs | cut -d' ' -f9- | tr ' ' ',')
        uref=$(ref generate "$f.un/model.gguf" 64 "$prompt" 2>"$tmp/referr" | tail -1)
      fi
      if [ "$umode" = 600 ] && [ -n "$ugot" ] && [ "$ugot" = "$got" ] && [ "$uref" = "$want" ]; then
        echo "ok   $name unsealed: a GGUF file (0600) with the plaintext file's tokens, llama.cpp's too"
        pass=$((pass + 1))
      else
        echo "FAIL $name unsealed: mode '$umode', tokens $ugot, llama.cpp $uref"; sed 's/^/  /' "$tmp/err" | head -3
        fail=$((fail + 1))
      fi
    fi
  fi
done <<'MATRIX'
llama-f32-bpe        gpt2    gpt-2     --arch llama --d 64 --heads 4 --kv-heads 4
llama-f16-spm-gqa    llama2  default   --arch llama --d 64 --heads 4 --kv-heads 2 --dtype F16
qwen2-bf16           qwen2   qwen2     --arch qwen2 --d 64 --heads 4 --kv-heads 2 --dtype BF16
gpt2-f32             gpt2    gpt-2     --arch gpt2 --d 64 --heads 4 --ctx 128
llama-bf16-untied    llama3  llama-bpe --arch llama --d 96 --heads 6 --kv-heads 3 --layers 3 --untied --dtype BF16
llama-f32-mistral    mistral default   --arch llama --d 64 --heads 8 --kv-heads 2 --rope-theta 1000000 --untied
llama-f16-tinyllama  llama2  default   --arch llama --d 128 --heads 8 --kv-heads 1 --ff 352 --layers 3 --dtype F16
llama-f32-v2-al64    gpt2    gpt-2     --arch llama --d 64 --heads 4 --kv-heads 2 --version 2 --alignment 64
qwen2-f32-untied     qwen2   qwen2     --arch qwen2 --d 96 --heads 6 --kv-heads 2 --untied
qwen2-f16            qwen2   qwen2     --arch qwen2 --d 64 --heads 4 --kv-heads 1 --dtype F16
gpt2-f16             gpt2    gpt-2     --arch gpt2 --d 64 --heads 4 --ctx 128 --dtype F16 --layers 3
gpt2-bf16            gpt2    gpt-2     --arch gpt2 --d 96 --heads 6 --ctx 128 --dtype BF16
llama-q8_0           gpt2    gpt-2     --arch llama --d 64 --heads 4 --kv-heads 2 --dtype Q8_0
llama-q4_0-untied    llama2  default   --arch llama --d 64 --heads 4 --kv-heads 2 --untied --dtype Q4_0
qwen2-q8_0           qwen2   qwen2     --arch qwen2 --d 64 --heads 4 --kv-heads 2 --dtype Q8_0
llama-q4_k           gpt2    gpt-2     --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --dtype Q4_K
llama-q6_k-untied    llama3  llama-bpe --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --untied --dtype Q6_K
qwen2-q4_k           qwen2   qwen2     --arch qwen2 --d 256 --heads 4 --kv-heads 1 --ff 768 --dtype Q4_K
gpt2-q8_0            gpt2    gpt-2     --arch gpt2 --d 64 --heads 4 --ctx 128 --dtype Q8_0
gpt2-q4_0            gpt2    gpt-2     --arch gpt2 --d 64 --heads 4 --ctx 128 --layers 3 --dtype Q4_0
gpt2-q4_k            gpt2    gpt-2     --arch gpt2 --d 256 --heads 4 --ctx 128 --dtype Q4_K
gpt2-q6_k            gpt2    gpt-2     --arch gpt2 --d 256 --heads 4 --ctx 128 --layers 1 --dtype Q6_K
gpt2-q4_k_m-untied   gpt2    gpt-2     --arch gpt2 --d 256 --heads 4 --ctx 128 --layers 1 --dtype Q4_K_M --untied
MATRIX

# 1b. seeds: where every step is llama.cpp's arithmetic (docs/gguf.md "Numbers against llama.cpp":
# heads of 16k dimensions on an AVX-512 build; not BF16, not a float GPT-2), any random file gives
# llama.cpp's 64 tokens, not just the matrix's: seeds 101.. of each (8, or 2 in the sanitizer
# build), no near-tie allowance (their logits are llama.cpp's to the bit: docs/gguf.md)
nseeds=8
[ "${TEELM_SANITIZE:-0}" = 1 ] && nseeds=2
while read -r name args; do
  [ -z "$name" ] && continue
  same_all=0
  for seed in $(seq 101 $((100 + nseeds))); do
    f="$tmp/sweep.gguf"
    # shellcheck disable=SC2086
    "$py" "$here/make_gguf.py" "$f" --tokenizer "$tmp/tok/gpt2/tokenizer.json" --pre gpt-2 $args --seed "$seed" ||
      { echo "FAIL $name seed $seed: make_gguf"; fail=$((fail + 1)); continue; }
    want=$(ref generate "$f" 64 "$prompt" 2>"$tmp/referr" | tail -1)
    got=$("$bin" generate --model "$f" --prompt-ids "$prompt" --ids --max-tokens 64 --temperature 0 --threads 2 \
      2>"$tmp/err" | xargs | cut -d' ' -f9- | tr ' ' ',')
    if [ -n "$want" ] && [ "$got" = "$want" ]; then
      same_all=$((same_all + 1))
    else
      echo "FAIL $name seed $seed: llama.cpp $want"; echo "  teelm:     $got"; sed 's/^/  /' "$tmp/err" | head -3
      fail=$((fail + 1))
    fi
  done
  if [ "$same_all" = "$nseeds" ]; then
    echo "ok   $name: seeds 101-$((100 + nseeds)) all give llama.cpp's greedy tokens"
    pass=$((pass + 1))
  fi
done <<'SEEDS'
llama-f32    --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512
llama-f16    --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --dtype F16
llama-q8_0   --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --dtype Q8_0
llama-q4_0   --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --dtype Q4_0
llama-q4_k   --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --dtype Q4_K
llama-q6_k   --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --dtype Q6_K
llama-q4_k_m --arch llama --d 256 --heads 4 --kv-heads 2 --ff 512 --dtype Q4_K_M
qwen2-q8_0   --arch qwen2 --d 256 --heads 4 --kv-heads 1 --ff 768 --dtype Q8_0
qwen2-q4_k_m --arch qwen2 --d 256 --heads 4 --kv-heads 1 --ff 768 --dtype Q4_K_M
gpt2-q8_0    --arch gpt2 --d 256 --heads 4 --ff 512 --dtype Q8_0
gpt2-q4_k    --arch gpt2 --d 256 --heads 4 --ff 512 --dtype Q4_K
SEEDS

# tokenization: texts with ASCII, whitespace runs, digits, accents, CJK, emoji, newlines, and the
# tokenizers' special tokens
printf 'Hello world, this is a sales pitch: buy 12345 widgets now!\n  Tabs\tand  spaces. Caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac100\n' >"$tmp/t1"
printf '\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x98\x80\xf0\x9f\x91\x8d  \n\n\n x  y   z 3.14159 don'"'"'t WE'"'"'LL it'"'"'s\r\n' >"$tmp/t2"
head -c 3000 "$tmp/corpus.txt" >"$tmp/t3"
printf '<s>hi</s> <|endoftext|>x<|im_start|>user<tool_call>a</tool_call><|begin_of_text|>b' >"$tmp/t4"
for spec in "gpt2 gpt-2" "llama3 llama-bpe" "qwen2 qwen2" "llama2 default" "mistral default"; do
  read -r tok pre <<<"$spec"
  f="$tmp/tok-$tok.gguf"
  "$py" "$here/make_gguf.py" "$f" --tokenizer "$tmp/tok/$tok/tokenizer.json" --pre "$pre" --d 16 --heads 2 --layers 1 ||
    { echo "FAIL tokenizer $tok: make_gguf"; fail=$((fail + 1)); continue; }
  for t in t1 t2 t3 t4; do
    for mode in plain special; do
      # t4 holds special tokens: teelm tokenize refuses them unless allowed (llama.cpp reads them as text)
      [ "$mode" = special ] && [ "$t" != t4 ] && continue
      [ "$mode" = plain ] && [ "$t" = t4 ] && continue
      flag=(); [ "$mode" = special ] && flag=(--allow-special)
      want=$(ref tokenize "$f" "$tmp/$t" "$mode" 2>"$tmp/referr" | tail -1)
      got=$("$bin" tokenize --model "$f" --input "$tmp/$t" "${flag[@]}" 2>"$tmp/err" | xargs | tr ' ' ',')
      if [ -n "$want" ] && [ "$got" = "$want" ]; then
        echo "ok   tokenize $tok ($pre) $t $mode: $(echo "$want" | tr ',' '\n' | wc -l) ids identical"
        pass=$((pass + 1))
      else
        echo "FAIL tokenize $tok ($pre) $t $mode"
        echo "  llama.cpp: $want"; echo "  teelm:     $got"; sed 's/^/  /' "$tmp/err" "$tmp/referr" | head -3
        fail=$((fail + 1))
      fi
    done
  done
done

# GGUF files written by teelm (teelm export --format gguf / teelm quantize) from Hugging Face
# directories (make_hf_model.py, with make_hf_tokenizers.py's byte-level tokenizers): llama.cpp's
# greedy tokens equal teelm's on the written file; the F32 file gives the directory's own tokens
# (the q/k permutation and GPT-2's transposition undone exactly); the written tokenizer tokenizes
# as llama.cpp reads it
hfmk="$here/make_hf_model.py"
while read -r fam tok args; do
  [ -z "$fam" ] && continue
  [ "${TEELM_SANITIZE:-0}" = 1 ] && [ "$tok" != llama3 ] && [ "$tok" != llama2 ] && continue
  d="$tmp/hf-$fam-$tok"
  vocab=$("$py" -c 'import json, sys; j = json.load(open(sys.argv[1]))
print(max(list(j["model"]["vocab"].values()) + [a["id"] for a in j["added_tokens"]]) + 1)' "$tmp/tok/$tok/tokenizer.json")
  # shellcheck disable=SC2086
  if ! "$py" "$hfmk" "$d" --family "$fam" --d 64 --heads 4 --ff 128 --ctx 256 --vocab "$vocab" $args --seed 3 \
    >/dev/null ||
    ! cp "$tmp/tok/$tok/tokenizer.json" "$tmp/tok/$tok/tokenizer_config.json" "$d/"; then
    echo "FAIL written $fam: make_hf_model"; fail=$((fail + 1)); continue
  fi
  hfgot=$("$bin" generate --model "$d" --prompt-ids "$prompt" --ids --max-tokens 64 --temperature 0 --threads 2 \
    2>"$tmp/err" | xargs | cut -d' ' -f9- | tr ' ' ',')
  types="F32 F16 Q8_0 Q4_0"
  for t in $types; do
    f="$tmp/w-$fam-$tok-$t.gguf"
    if [ "$t" = F32 ]; then
      "$bin" export --model "$d" --out "$f" --format gguf --quantize F32 >"$tmp/w.out" 2>"$tmp/err"
    else
      "$bin" quantize --model "$d" --out "$f" --type "$t" >"$tmp/w.out" 2>"$tmp/err"
    fi || { echo "FAIL written $fam $t: $(head -c 300 "$tmp/err")"; fail=$((fail + 1)); continue; }
    want=$(ref generate "$f" 64 "$prompt" 2>"$tmp/referr" | tail -1)
    got=$("$bin" generate --model "$f" --prompt-ids "$prompt" --ids --max-tokens 64 --temperature 0 --threads 2 \
      2>"$tmp/err" | xargs | cut -d' ' -f9- | tr ' ' ',')
    tk_ok=1
    for tt in t1 t2 t3; do
      [ "$(ref tokenize "$f" "$tmp/$tt" plain 2>/dev/null | tail -1)" = \
        "$("$bin" tokenize --model "$f" --input "$tmp/$tt" 2>/dev/null | xargs | tr ' ' ',')" ] || tk_ok=0
    done
    if [ -n "$want" ] && [ "$got" = "$want" ] && [ "$tk_ok" = 1 ] && { [ "$t" != F32 ] || [ "$got" = "$hfgot" ]; }; then
      echo "ok   written $fam ($tok) $t: llama.cpp's 64 greedy tokens$([ "$t" = F32 ] && echo ", the directory's own"), its tokenization"
      pass=$((pass + 1))
    else
      echo "FAIL written $fam ($tok) $t: tokenization $tk_ok"; echo "  llama.cpp: $want"; echo "  teelm:     $got"
      echo "  directory: $hfgot"; sed 's/^/  /' "$tmp/err" "$tmp/referr" | head -3
      fail=$((fail + 1))
    fi
  done
done <<'WRITTEN'
llama  llama3  --kv-heads 2 --bos 1500 --eos 1505
llama  llama2  --kv-heads 2 --bos 1 --eos 2
llama  mistral --kv-heads 1 --bos 1 --eos 2 --untied
qwen2  qwen2   --kv-heads 1 --eos 1502
gpt2   gpt2    --eos 1500
WRITTEN
# the chat template a GGUF file carries (tokenizer.chat_template): serve uses it (/v1/models says
# "model"), and a chat's prompt is apply_chat_template's ids (chat_ids.js: @huggingface/jinja and
# @huggingface/tokenizers on the tokenizer.json the file was written from)
f="$tmp/chat.gguf"
"$py" "$here/make_gguf.py" "$f" --arch qwen2 --tokenizer "$tmp/tok/qwen2/tokenizer.json" --pre qwen2 --d 16 --heads 2 \
  --layers 1 --chat-template "$root/tests/fixtures/chat_templates/qwen2.5.jinja" ||
  { echo "FAIL chat: make_gguf"; fail=$((fail + 1)); }
"$bin" serve --model "$f" --tee sim --listen 127.0.0.1:0 --quiet --threads 1 >"$tmp/serve.out" 2>"$tmp/serve.err" &
spid=$!
for _ in $(seq 1 150); do
  grep -q "listening on" "$tmp/serve.out" 2>/dev/null && break
  kill -0 $spid 2>/dev/null || break
  sleep 0.2
done
url=$(grep -o 'https://127.0.0.1:[0-9]*' "$tmp/serve.out" || true)
msgs='[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello there, what is 12+30?"}]'
if [ -n "$url" ]; then
  tmplname=$(curl -sk --max-time 60 "$url/v1/models" | jq -r '.data[0].chat_template')
  used=$(curl -sk --max-time 120 "$url/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"messages\":$msgs,\"max_tokens\":2,\"temperature\":0}" | jq -r '.usage.prompt_tokens')
else
  tmplname="(server did not start: $(head -c 300 "$tmp/serve.err"))" used=
fi
kill $spid 2>/dev/null; wait $spid 2>/dev/null
jq -n --rawfile t "$root/tests/fixtures/chat_templates/qwen2.5.jinja" --arg j "$tmp/tok/qwen2/tokenizer.json" \
  --arg c "$tmp/tok/qwen2/tokenizer_config.json" --argjson m "$msgs" \
  '{now: 0, tokenizers: {q: {json: $j, config: $c}}, cases: [{tokenizer: "q", template: $t, messages: $m,
    bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", add_generation_prompt: true}]}' >"$tmp/chat_case.json"
(cd "$root" && node tests/reference/chat_ids.js "$tmp/chat_case.json" "$tmp/chat_ids.json")
want=$(jq -r '.[0].ids | length' "$tmp/chat_ids.json" 2>/dev/null)
if [ "$tmplname" = model ] && [ -n "$want" ] && [ "$used" = "$want" ]; then
  echo "ok   chat: serve uses the file's tokenizer.chat_template; the prompt holds apply_chat_template's $want ids"
  pass=$((pass + 1))
else
  echo "FAIL chat: /v1/models chat_template '$tmplname' (want model), prompt_tokens '$used' (want $want)"
  fail=$((fail + 1))
fi

# hostile files: mode and a fragment the message must contain
while read -r mode want; do
  [ -z "$mode" ] && continue
  f="$tmp/h-$mode.gguf"
  "$py" "$here/make_gguf.py" "$f" --tokenizer "$tmp/tok/gpt2/tokenizer.json" --arch llama --ff 256 --hostile "$mode" ||
    { echo "FAIL hostile $mode: make_gguf"; fail=$((fail + 1)); continue; }
  "$bin" generate --model "$f" --prompt-ids 1,2 --ids --max-tokens 4 --temperature 0 >/dev/null 2>"$tmp/err"
  rc=$?
  if [ "$rc" = 1 ] && grep -qF -- "$want" "$tmp/err" && ! grep -q "Sanitizer" "$tmp/err"; then
    echo "ok   hostile $mode: $(head -1 "$tmp/err")"
    pass=$((pass + 1))
  else
    echo "FAIL hostile $mode: exit $rc, wanted a message with '$want'"; sed 's/^/  /' "$tmp/err" | head -5
    fail=$((fail + 1))
  fi
done <<'HOSTILE'
truncated-header    truncated
truncated-data      truncated: tensor
lying-kv-count      more than the
lying-tensor-count  tensor 20
huge-string         claims 9223372036854775808 bytes
huge-array          does not fit
nested-arrays       nested deeper than
misaligned-offset   is not a multiple of the alignment
overlap             overlap
unknown-type        tensor blk.0.attn_k.weight has unknown ggml type id 200
q5k-type            tensor blk.0.ffn_down.weight has type Q5_K, which teelm does not run yet
bad-alignment       general.alignment 48 is not a power of two
bad-version         GGUF version 4
huge-dims           overflows
duplicate-tensor    tensor token_embd.weight appears twice
duplicate-key       metadata key 'general.architecture' appears twice
missing-tensor      tensor blk.0.ffn_up.weight is missing
wrong-shape         tensor blk.0.ffn_gate.weight has dims [256, 64], expected [64, 256]
bad-value-type      unknown value type 13
HOSTILE

[ "$xfail" -gt 0 ] && echo "$xfail BF16 runs diverged from llama.cpp after 8+ identical tokens (near-ties)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
