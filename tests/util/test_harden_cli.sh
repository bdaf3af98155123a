#!/usr/bin/env bash
# serve, kbs and generate harden themselves at start (util/harden.h), observed from outside:
#   - core dumps off: /proc/PID/limits says "Max core file size 0 0" although each was started
#     with `ulimit -c unlimited`;
#   - not dumpable: each runs as an unprivileged user (nobody, when the test runs as root), and
#     the kernel hands a non-dumpable process's /proc/PID files to root (uid 0) while a dumpable
#     one's belong to its user (proc(5), PR_SET_DUMPABLE).
set -u
bin=${TEELM_BIN:?}
# shellcheck source=tests/util/check.sh
. "${TEELM_SRC:?}/tests/util/check.sh"
model_inputs
runas=()
user=$(id -u)
if [ "$user" = 0 ]; then
  command -v setpriv >/dev/null || skip "running as root without setpriv(1) to drop to nobody"
  runas=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
  user=65534
fi
if [ "$(ulimit -Hc)" = 0 ]; then
  skip "the hard core limit is already 0 here: nothing would tell old from new"
fi
tmp=$(mktemp -d /tmp/teelm-harden-XXXXXX)
pids=()
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
chmod 755 "$tmp"

# start NAME CMD...: runs CMD as $user with an unlimited core limit, in the background
start() {
  local name=$1; shift
  ( ulimit -c unlimited; exec "${runas[@]}" "$@" ) >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  last=$!
}
# check NAME PID: the hardening is visible in /proc (polled, bounded by count: the process
# hardens itself first thing, but the test cannot know when it has started)
check() {
  local name=$1 pid=$2 limit='' owner=''
  for _ in $(seq 100); do
    limit=$(awk '/^Max core file size/ {print $5, $6}' "/proc/$pid/limits" 2>/dev/null)
    owner=$(stat -c %u "/proc/$pid/environ" 2>/dev/null)
    [ "$limit" = "0 0" ] && [ "$owner" = 0 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null || { bad "$name exited early: $(cat "$tmp/$name.err")"; return; }
  if [ "$limit" = "0 0" ]; then ok "$name: core file size limit 0 0"
  else bad "$name: core file size limit '$limit'"; fi
  if [ "$owner" = 0 ]; then ok "$name: not dumpable (/proc/$pid owned by root)"
  else bad "$name: dumpable (/proc/$pid/environ owned by uid $owner, the process runs as $user)"; fi
}

"$helper" "$tmp/model" "$tik" 100070 9 1 >/dev/null || { echo "tl_make_model failed"; exit 1; }
chmod -R a+rX "$tmp/model"

# a reference: the same launcher with a command that does not harden (proves the observables)
start ref sleep 30
for _ in $(seq 100); do # until the launcher has exec'd sleep as $user
  ref_owner=$(stat -c %u "/proc/$last/environ" 2>/dev/null)
  [ "$(cat "/proc/$last/comm" 2>/dev/null)" = sleep ] && [ "$ref_owner" = "$user" ] && break
  sleep 0.1
done
check_ref_limit=$(awk '/^Max core file size/ {print $5, $6}' "/proc/$last/limits")
if [ "$check_ref_limit" = "0 0" ] || [ "$ref_owner" != "$user" ]; then
  bad "the launcher itself: limit '$check_ref_limit', owner $ref_owner (the checks below would mean nothing)"
fi

start serve "$bin" serve --model "$tmp/model" --tee sim --listen 127.0.0.1:0 --threads 1
check serve "$last"

mr=$("$bin" attest measure | head -1)
printf '{"mrenclave":"%s","allow_simulation":true}\n' "$mr" >"$tmp/policy.json"
chmod 644 "$tmp/policy.json"
mkdir "$tmp/kbs" && chmod 700 "$tmp/kbs" && { [ "$user" = "$(id -u)" ] || chown 65534:65534 "$tmp/kbs"; }
start kbs "$bin" kbs --listen 127.0.0.1:0 --store "$tmp/kbs/store" --policy "$tmp/policy.json"
check kbs "$last"

start generate "$bin" generate --model "$tmp/model" --prompt-ids 1,2 --ids --max-tokens 1000000000 --threads 1
check generate "$last"

finish
