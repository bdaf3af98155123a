#!/usr/bin/env bash
# The main job end to end, on one machine, in sim mode:
#   install → build → tokenizer → train (full + split) → seal → key broker → attested server → client "The"
# Every step says what it does; everything started here is stopped on exit.
# sim mode PROTECTS NOTHING: it stands in for SGX/TDX hardware so the whole path runs anywhere.
#
# Environment: DEMO_DIR (default ./demo-run), DEMO_STEPS (training steps, default 2000, about a minute),
#              DEMO_SKIP_DEPS=1 to skip the package installation step.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${DEMO_DIR:-$root/demo-run}
steps=${DEMO_STEPS:-2000}
bin=$root/build/teelm
pids=()

say() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\ndemo: %s\n' "$*" >&2; exit 1; }
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

# Waits until FILE contains a line "listening on HOST:PORT" and prints HOST:PORT.
wait_listen() {
  local file=$1 pid=$2
  for _ in $(seq 1 300); do
    if grep -qo 'listening on [^ ]*' "$file" 2>/dev/null; then
      grep -o 'listening on [^ ]*' "$file" | head -n 1 | sed 's/listening on //; s#https://##'
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; return 1; }
    sleep 0.2
  done
  cat "$file" >&2
  return 1
}

if [ "${DEMO_SKIP_DEPS:-0}" != 1 ]; then
  say "1/9 installing what is missing (build tools and libraries; the test references are --test's)"
  bash scripts/install-deps.sh || die "installing dependencies failed: see the messages above (apt-get needs root or sudo)"
fi

say "2/9 building teelm"
make build >/dev/null || die "the build failed: run 'make build' to see why"
"$bin" --version

rm -rf "$dir"; mkdir -p "$dir"
say "3/9 choosing a training corpus"
if [ -f "$root/../shared/data/sales_textbook.txt" ]; then
  corpus=$root/../shared/data/sales_textbook.txt
  echo "corpus: the prototype's sales textbook ($corpus)"
else
  # Offline fallback every Debian machine has: the licence texts shipped by base-files.
  corpus=$dir/corpus.txt
  cat /usr/share/common-licenses/* > "$corpus" 2>/dev/null || true
  [ -s "$corpus" ] || die "no corpus found: put a text file at ../shared/data/sales_textbook.txt"
  echo "corpus: Debian's licence texts ($(wc -c < "$corpus") bytes)"
fi

say "4/9 getting a tokenizer"
if [ -f "$root/../shared/data/cl100k_base.tiktoken" ]; then
  tokenizer=$root/../shared/data/cl100k_base.tiktoken
  echo "tokenizer: cl100k_base ($tokenizer)"
else
  # npm tiktoken's copy is a test reference the demo does not install: teelm trains its own BPE on the
  # corpus (a fraction of a second), the same on every machine without ../shared, CI's included
  tokenizer=$dir/tokenizer.tiktoken
  "$bin" tokenizer train --vocab 4096 --out "$tokenizer" "$corpus" || die "training the tokenizer failed"
fi

say "5/9 training a seed-config model for $steps steps (saved full and split)"
"$bin" train --data "$corpus" --tokenizer "$tokenizer" --out "$dir/model" --config seed \
  --steps "$steps" --eval-interval 200 --eval-iters 10 || die "training failed"
ls "$dir/model"

say "6/9 sealing the model (AES-256-GCM; the key goes to the broker, not to the server)"
"$bin" seal --model "$dir/model" --out "$dir/model.sealed" --key-out "$dir/model.key" --key-id demo-model || die "sealing failed"

say "7/9 starting the key broker (owner side) and admitting exactly this sim server's configuration"
# The broker's default policy admits nothing; the key gets its own policy below, once the broker's
# URL and certificate (both part of the server's configuration) exist. add-key works while it runs.
"$bin" attest policy-template --mrenclave "$(printf '%064d' 0)" > "$dir/nothing.json" || die "could not write a policy"
"$bin" kbs --listen 127.0.0.1:0 --store "$dir/kbs" --policy "$dir/nothing.json" > "$dir/kbs.log" 2>&1 &
pids+=($!)
kbs_addr=$(wait_listen "$dir/kbs.log" "${pids[-1]}") || die "the key broker did not start (log above)"
echo "key broker on https://$kbs_addr"
# The sim MRENCLAVE binds the binary and the server's configuration document (docs/bindings.md):
# the owner computes it from the very flags the server will get (--listen is the host's choice and
# not part of it).
serve_flags=(--model "$dir/model.sealed" --kbs "https://$kbs_addr" --kbs-ca "$dir/kbs/tls-cert.pem" --tee sim)
"$bin" serve "${serve_flags[@]}" --print-config > "$dir/serve-config.json" || die "could not build the configuration document"
echo "configuration document: $(cat "$dir/serve-config.json")"
measurement=$("$bin" attest measure --serve-config "$dir/serve-config.json") \
  || die "could not compute the sim measurement"
echo "sim MRENCLAVE of 'teelm serve' with this configuration: $measurement"
"$bin" attest policy-template --mrenclave "$measurement" --allow-simulation > "$dir/policy.json" \
  || die "could not write the policy"
"$bin" kbs add-key --store "$dir/kbs" --key-id demo-model --key-file "$dir/model.key" --policy "$dir/policy.json" \
  || die "could not register the key with the broker"
shred -u "$dir/model.key" 2>/dev/null || rm -f "$dir/model.key"

say "8/9 starting the confidential server in sim mode (it attests to the broker to get the key)"
"$bin" serve "${serve_flags[@]}" --listen 127.0.0.1:0 > "$dir/serve.log" 2>&1 &
pids+=($!)
srv_addr=$(wait_listen "$dir/serve.log" "${pids[-1]}") || die "the server did not start (log above)"
echo "server on https://$srv_addr"

say "9/9 the attested client verifies the server's evidence, then sends the prompt \"The\""
printf 'The'
"$bin" client --server "https://$srv_addr" --policy "$dir/policy.json" --expect-config "$dir/serve-config.json" \
  --prompt "The" --max-tokens 100 --stream \
  || die "the client refused or failed (see above)"
echo
say "done: stopping the server and the broker"
