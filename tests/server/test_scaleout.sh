#!/usr/bin/env bash
# Scale-out: two `teelm serve` replicas (sim) behind nginx in TCP pass-through mode (stream module,
# deploy/nginx/teelm-stream.conf's shape), nginx started unprivileged with its own prefix and
# config in a temporary directory. Through nginx, `teelm client` verifies the RA-TLS evidence of
# whichever replica it reaches: over several connections both replicas answer, each with valid
# evidence bound to its own, distinct TLS key; completions with the same seed give the same text
# whichever replica serves them.
# shellcheck disable=SC2317  # cleanup runs through trap
set -euo pipefail
BIN=${TEELM_BIN:?}
SHARED=${TEELM_SHARED:-../shared}
HELPER=$(dirname "$BIN")/tests/server/tl_make_model
MOD=/usr/lib/nginx/modules/ngx_stream_module.so
# shellcheck source=tests/util/skip.sh
. "${TEELM_SRC:?}/tests/util/skip.sh"
command -v nginx >/dev/null || skip "nginx is not installed (scripts/install-deps.sh installs nginx-light)"
[ -f "$MOD" ] || skip "nginx stream module absent ($MOD; Debian package libnginx-mod-stream)"
[ -x "$HELPER" ] || { echo "FAIL: $HELPER not built"; exit 1; }

T=$(mktemp -d /tmp/teelm-scaleout-XXXXXX)
TIK=$(cl100k "$T") || skip "no cl100k_base ($SHARED/data/cl100k_base.tiktoken or npm tiktoken; scripts/install-deps.sh)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
fail=0
check() { local d=$1; shift; if "$@"; then echo "ok: $d"; else echo "FAIL: $d"; fail=1; fi; }

"$HELPER" "$T/model" "$TIK" 100070 99 2
ports=()
keys=()
for r in 1 2; do
  "$BIN" serve --model "$T/model" --tee sim --listen 127.0.0.1:0 --model-name seed --quiet \
    >"$T/serve$r.out" 2>"$T/serve$r.err" &
  pids+=($!)
done
for r in 1 2; do
  for _ in $(seq 1 100); do grep -q "listening on" "$T/serve$r.out" 2>/dev/null && break; sleep 0.2; done
  ports+=("$(grep -o 'https://127.0.0.1:[0-9]*' "$T/serve$r.out" | sed 's/.*://')")
  keys+=("$(grep -o 'key sha256 [0-9a-f]*' "$T/serve$r.out" | cut -d' ' -f3)")
done
if [ -z "${ports[0]}" ] || [ -z "${ports[1]}" ]; then echo "replicas did not start"; cat "$T"/serve*.err; exit 1; fi

# a free port for nginx (the OS picks it; nginx binds it right after)
LB=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$T/nginx/logs"
cat >"$T/nginx/nginx.conf" <<CONF
load_module $MOD;
worker_processes 1;
daemon off;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log warn;
events { worker_connections 128; }
stream {
    upstream teelm_replicas {
        server 127.0.0.1:${ports[0]};
        server 127.0.0.1:${ports[1]};
    }
    server {
        listen 127.0.0.1:$LB;
        proxy_pass teelm_replicas;
        proxy_connect_timeout 5s;
        proxy_timeout 60s;
    }
}
CONF
if [ "$(id -u)" -eq 0 ]; then
  # unprivileged: nginx's own user switch needs root, so run the whole master as nobody
  chmod a+rx "$T"
  chmod -R a+rwX "$T/nginx"
  runuser -u nobody -- nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/logs/error.log" &
else
  nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/logs/error.log" &
fi
pids+=($!)
for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$LB") 2>/dev/null && break; sleep 0.1; done

# the replicas' sim MRENCLAVE: this binary with their configuration document (docs/bindings.md)
"$BIN" serve --model "$T/model" --tee sim --model-name seed --quiet --print-config >"$T/config.json"
MRE=$("$BIN" attest measure --serve-config "$T/config.json" --json | jq -r .mrenclave)
echo "{\"mrenclave\":\"$MRE\",\"allow_simulation\":true}" >"$T/policy.json"
seen=()
for i in $(seq 1 6); do
  if "$BIN" client --server "https://127.0.0.1:$LB" --policy "$T/policy.json" --verify-only >"$T/v$i.json" 2>"$T/v$i.err"; then
    seen+=("$(jq -r .pubkey_sha256 "$T/v$i.json")")
  else
    echo "client $i through nginx failed:"; cat "$T/v$i.err"
  fi
done
check "6 attested connections through nginx succeeded" test ${#seen[@]} -eq 6
distinct=$(printf '%s\n' "${seen[@]}" | sort -u)
check "both replicas answered, with distinct TLS keys" test "$(echo "$distinct" | wc -l)" -eq 2
check "the keys are the replicas' own (bound in each one's evidence)" \
  test "$(echo "$distinct" | paste -sd' ')" == "$(printf '%s\n' "${keys[@]}" | sort -u | paste -sd' ')"
for i in 1 2 3 4; do
  "$BIN" client --server "https://127.0.0.1:$LB" --policy "$T/policy.json" --quiet --prompt "The team" --seed 5 \
    --max-tokens 12 >"$T/c$i.txt"
done
check "same seed, same text from either replica" test "$(cat "$T"/c*.txt | sort -u | wc -l)" -eq 1
echo "{\"mrenclave\":\"$(printf '%064d' 3)\",\"allow_simulation\":true}" >"$T/wrong.json"
set +e
"$BIN" client --server "https://127.0.0.1:$LB" --policy "$T/wrong.json" --prompt x >/dev/null 2>"$T/w.err"
rc=$?
set -e
check "a wrong policy is still refused through nginx (evidence not stripped or replaced)" \
  test $rc -eq 1 -a -n "$(grep 'mrenclave' "$T/w.err")"
exit $fail
