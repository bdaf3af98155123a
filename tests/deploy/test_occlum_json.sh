#!/usr/bin/env bash
# deploy/occlum/occlum.jq (what build.sh applies to the Occlum.json `occlum new` writes) yields the
# production configuration of docs/deploy-occlum.md: /bin/teelm the only entry point, enclave mode
# set in the measured env.default, no host environment, no hostfs mount (the template's /host is
# removed, the other mounts kept), limits from `teelm occlum-config`, not debuggable. Checked on
# two template shapes: Occlum's older one (env as a list) and the current one (env.default /
# env.untrusted, unionfs root, procfs, devfs).
set -u
bin=${TEELM_BIN:?}
src=${TEELM_SRC:?}
shared=${TEELM_SHARED:-../shared}
helper=$(dirname "$bin")/tests/server/tl_make_model
tik=$shared/data/cl100k_base.tiktoken
command -v jq >/dev/null || { echo "SKIP: jq is not installed"; exit 77; }
[ -f "$tik" ] || { echo "SKIP: $tik is absent"; exit 77; }
[ -x "$helper" ] || { echo "SKIP: $helper not built"; exit 77; }
tmp=$(mktemp -d /tmp/teelm-occlum-json-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0; pass=0
check() { local what=$1; shift; if "$@"; then pass=$((pass+1)); else echo "FAIL: $what"; fail=$((fail+1)); fi; }

"$helper" "$tmp/model" "$tik" 100070 4242 >/dev/null
limits=$("$bin" occlum-config --model "$tmp/model" --threads 4 --max-batch 8 --json) || { echo "occlum-config failed"; exit 1; }

cat > "$tmp/old.json" <<'J'
{"vm": {"user_space_size": "128MB"},
 "process": {"default_stack_size": "4MB", "default_heap_size": "16MB", "default_mmap_size": "32MB"},
 "env": ["OCCLUM=yes"],
 "mount": [{"target": "/", "type": "sefs", "source": "./image", "options": {"integrity_only": true}},
           {"target": "/root", "type": "sefs"},
           {"target": "/host", "type": "hostfs", "source": "."},
           {"target": "/tmp", "type": "ramfs"}]}
J
cat > "$tmp/new.json" <<'J'
{"resource_limits": {"user_space_size": "300MB", "kernel_space_heap_size": "32MB", "max_num_of_threads": 32},
 "process": {"default_stack_size": "4MB", "default_heap_size": "32MB"},
 "entry_points": ["/bin"],
 "env": {"default": ["OCCLUM=yes"], "untrusted": ["EXAMPLE", "LD_PRELOAD"]},
 "metadata": {"product_id": 0, "version_number": 0, "debuggable": true},
 "mount": [{"target": "/", "type": "unionfs", "options": {"layers": [
             {"target": "/", "type": "sefs", "source": "./build/mount/__ROOT", "options": {"MAC": ""}},
             {"target": "/", "type": "sefs", "source": "./run/mount/__ROOT"}]}},
           {"target": "/host", "type": "hostfs", "source": "."},
           {"target": "/proc", "type": "procfs"},
           {"target": "/dev", "type": "devfs"}]}
J
for t in old new; do
  out=$tmp/$t.out.json
  jq --argjson l "$limits" -f "$src/deploy/occlum/occlum.jq" "$tmp/$t.json" > "$out"
  check "$t: jq applies" test $? -eq 0
  check "$t: entry_points is /bin/teelm alone" test "$(jq -c .entry_points "$out")" = '["/bin/teelm"]'
  check "$t: enclave mode in env.default" jq -e >/dev/null '.env.default | index("TEELM_ENCLAVE_CONFIG=/etc/teelm/serve.json") != null' "$out"
  check "$t: env.untrusted empty" jq -e >/dev/null '.env.untrusted == []' "$out"
  check "$t: no hostfs mount" jq -e >/dev/null '[.mount[] | select(.type == "hostfs" or .target == "/host")] == []' "$out"
  check "$t: the other mounts are kept" test "$(jq '.mount | length' "$out")" -eq "$(( $(jq '.mount | length' "$tmp/$t.json") - 1 ))"
  check "$t: not debuggable" jq -e >/dev/null '.metadata.debuggable == false' "$out"
  check "$t: limits from occlum-config" test "$(jq -r .resource_limits.user_space_size "$out")" = "$(jq -rn --argjson l "$limits" '$l.resource_limits.user_space_size')"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
