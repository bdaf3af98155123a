#!/usr/bin/env bash
# The CLI contract every subcommand shares: --version, help, usage errors exit 2 with one line.
set -u
bin=${TEELM_BIN:?}
fail=0; pass=0
expect() { # expect CODE DESCRIPTION -- CMD...
  local want=$1 what=$2; shift 3
  "$@" >/tmp/cli.out.$$ 2>/tmp/cli.err.$$; local got=$?
  if [ "$got" -ne "$want" ]; then echo "FAIL: $what: exit $got, want $want"; cat /tmp/cli.err.$$; fail=$((fail+1)); else pass=$((pass+1)); fi
}
expect 0 "--version" -- "$bin" --version
grep -q "^teelm [0-9]" /tmp/cli.out.$$ || { echo "FAIL: version text"; fail=$((fail+1)); }
expect 0 "help" -- "$bin" help
expect 2 "no command" -- "$bin"
expect 2 "unknown command" -- "$bin" frobnicate
for cmd in train eval generate tokenize detokenize tokenizer import export inspect seal unseal kbs attest serve client occlum-config; do
  expect 0 "help $cmd" -- "$bin" help "$cmd"
  grep -q "usage: teelm $cmd" /tmp/cli.out.$$ || { echo "FAIL: help $cmd prints no usage line"; fail=$((fail+1)); }
  expect 2 "$cmd unknown flag" -- "$bin" "$cmd" --no-such-flag
  lines=$(wc -l < /tmp/cli.err.$$)
  [ "$lines" -eq 1 ] || { echo "FAIL: $cmd unknown flag printed $lines lines"; cat /tmp/cli.err.$$; fail=$((fail+1)); }
done
rm -f /tmp/cli.out.$$ /tmp/cli.err.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
