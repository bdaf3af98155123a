#!/usr/bin/env bash
# Occlum runs only position-independent executables and has no fork(): the teelm binary must be PIE
# and must not import any function that forks or runs another program.
set -u
bin=${TEELM_BIN:?}
# shellcheck source=tests/util/skip.sh
. "${TEELM_SRC:?}/tests/util/skip.sh"
command -v readelf >/dev/null || skip "readelf (binutils) is not installed"
fail=0; pass=0
if readelf -h "$bin" | grep -q 'Type:.*DYN'; then pass=$((pass+1)); else echo "FAIL: $bin is not PIE"; fail=$((fail+1)); fi
bad=$(readelf --dyn-syms -W "$bin" | awk '$7 == "UND" {print $8}' | sed 's/@.*//' |
      grep -Ex 'fork|vfork|system|popen|execv|execve|execvp|execvpe|execl|execlp|execle|posix_spawn|posix_spawnp|clone3?' || true)
if [ -z "$bad" ]; then pass=$((pass+1)); else echo "FAIL: $bin imports $(echo "$bad" | tr '\n' ' ')"; fail=$((fail+1)); fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
