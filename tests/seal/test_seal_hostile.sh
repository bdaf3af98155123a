#!/usr/bin/env bash
# A hostile host against the sealed-model readers, through the real binary (docs/threat-model.md,
# "The host's powers"):
#   - a FIFO in place of a layer file, of model.sealed, or of the key file is refused with a
#     message naming the file, instead of hanging the load (every run is under timeout(1), so a
#     regression fails with 124 rather than hanging the suite);
#   - a key file its group or others may read is refused (generate, unseal, seal --key-file),
#     telling to chmod 600;
#   - a flipped magic byte is reported as a damaged sealed model ("bad magic"), whatever the file
#     is called, not as a plaintext format error;
#   - unseal writes the plaintext files with mode 0600.
set -u
bin=${TEELM_BIN:?}
# shellcheck source=tests/util/check.sh
. "${TEELM_SRC:?}/tests/util/check.sh"
model_inputs
tmp=$(mktemp -d /tmp/teelm-seal-hostile-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# refused WHAT WANT CMD...: CMD must fail on its own (not by timeout) with WANT in its stderr
refused() {
  local what=$1 want=$2; shift 2
  timeout 60 "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" = 124 ]; then bad "$what: hung (killed by timeout)"
  elif [ "$rc" = 0 ]; then bad "$what: accepted"
  elif ! grep -qF -- "$want" "$tmp/err"; then bad "$what: message '$(cat "$tmp/err")' lacks '$want'"
  else ok "$what: $(head -c 200 "$tmp/err")"; fi
}
gen=("$bin" generate --prompt-ids "1,2,3" --ids --max-tokens 2 --threads 1)

"$helper" "$tmp/plain" "$tik" 100070 5 2 >/dev/null || { echo "tl_make_model failed"; exit 1; }
if ! "$bin" seal --model "$tmp/plain" --out "$tmp/m.sealed" --key-out "$tmp/k.key" --key-id hostile >/dev/null ||
   ! "$bin" seal --model "$tmp/plain" --out "$tmp/ms" --split --key-file "$tmp/k.key" >/dev/null; then
  echo "seal failed"; exit 1
fi
[ "$(stat -c %a "$tmp/k.key")" = 600 ] || bad "seal --key-out wrote mode $(stat -c %a "$tmp/k.key")"
timeout 60 "${gen[@]}" --model "$tmp/ms" --key-file "$tmp/k.key" >"$tmp/good.txt" 2>"$tmp/err" || bad "split model: $(cat "$tmp/err")"
timeout 60 "${gen[@]}" --model "$tmp/m.sealed" --key-file "$tmp/k.key" >/dev/null 2>"$tmp/err" || bad "full model: $(cat "$tmp/err")"

# FIFOs in place of files
cp -r "$tmp/ms" "$tmp/fifo1" && rm "$tmp/fifo1/part-001.sealed" && mkfifo "$tmp/fifo1/part-001.sealed"
refused "FIFO as a layer file" "part-001.sealed: not a regular file (a fifo)" "${gen[@]}" --model "$tmp/fifo1" --key-file "$tmp/k.key"
cp -r "$tmp/ms" "$tmp/fifo0" && rm "$tmp/fifo0/model.sealed" && mkfifo "$tmp/fifo0/model.sealed"
refused "FIFO as model.sealed" "model.sealed: not a regular file (a fifo)" "${gen[@]}" --model "$tmp/fifo0" --key-file "$tmp/k.key"
mkfifo "$tmp/fifo.sealed"
refused "FIFO as the model file" "fifo.sealed: not a regular file (a fifo)" "${gen[@]}" --model "$tmp/fifo.sealed" --key-file "$tmp/k.key"
mkfifo "$tmp/kfifo"
refused "FIFO as the key file" "kfifo: not a regular file (a fifo)" "${gen[@]}" --model "$tmp/ms" --key-file "$tmp/kfifo"
refused "FIFO as the key file (unseal)" "kfifo: not a regular file (a fifo)" \
  "$bin" unseal --model "$tmp/ms" --key-file "$tmp/kfifo" --out "$tmp/u0"

# key files others may read
cp "$tmp/k.key" "$tmp/k644.key" && chmod 644 "$tmp/k644.key"
refused "key file mode 0644 (generate)" "chmod 600" "${gen[@]}" --model "$tmp/ms" --key-file "$tmp/k644.key"
refused "key file mode 0644 (unseal)" "chmod 600" "$bin" unseal --model "$tmp/ms" --key-file "$tmp/k644.key" --out "$tmp/u1"
chmod 640 "$tmp/k644.key"
refused "key file mode 0640 (seal)" "chmod 600" "$bin" seal --model "$tmp/plain" --out "$tmp/x.sealed" --key-file "$tmp/k644.key"
[ -e "$tmp/u1" ] && bad "unseal created its output before refusing the key file"
if grep -q "$(sed -n 's/^key: //p' "$tmp/k.key")" "$tmp/err"; then bad "a refusal printed the key"; fi

# a flipped magic byte, in a file named .sealed, in one named otherwise, and in a split model
flip() { cp -r "$1" "$2" && printf 'U' | dd of="$3" bs=1 seek=1 conv=notrunc status=none; }
flip "$tmp/m.sealed" "$tmp/flip.sealed" "$tmp/flip.sealed"
refused "flipped magic (.sealed)" "bad magic: not a teelm sealed model" "${gen[@]}" --model "$tmp/flip.sealed" --key-file "$tmp/k.key"
grep -q "header size" "$tmp/err" && bad "flipped magic still reported as a header size"
flip "$tmp/m.sealed" "$tmp/flip.bin" "$tmp/flip.bin"
refused "flipped magic (other name)" "bad magic: not a teelm sealed model" "${gen[@]}" --model "$tmp/flip.bin" --key-file "$tmp/k.key"
grep -q "header size" "$tmp/err" && bad "flipped magic still reported as a header size"
flip "$tmp/ms" "$tmp/flipdir" "$tmp/flipdir/model.sealed"
refused "flipped magic (split)" "bad magic" "${gen[@]}" --model "$tmp/flipdir" --key-file "$tmp/k.key"
flip "$tmp/ms" "$tmp/flippart" "$tmp/flippart/part-001.sealed"
refused "flipped magic (layer file)" "part-001.sealed: sealed header: bad magic" "${gen[@]}" --model "$tmp/flippart" --key-file "$tmp/k.key"

# unseal: plaintext files are private
timeout 60 "$bin" unseal --model "$tmp/ms" --key-file "$tmp/k.key" --out "$tmp/back" >/dev/null 2>"$tmp/err" ||
  bad "unseal: $(cat "$tmp/err")"
n=0
for f in "$tmp/back"/*; do
  n=$((n + 1))
  m=$(stat -c %a "$f")
  [ -d "$f" ] && continue
  [ "$m" = 600 ] || bad "unseal wrote $(basename "$f") with mode $m"
done
[ "$n" -gt 1 ] || bad "unseal wrote $n files"
[ "$(stat -c %a "$tmp/back")" = 700 ] || bad "unseal made its directory mode $(stat -c %a "$tmp/back")"
for f in "$tmp/back"/*.tmp.*; do [ -e "$f" ] && bad "unseal left a temporary behind: $f"; done
finish
