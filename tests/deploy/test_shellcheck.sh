#!/usr/bin/env bash
# Every shell script in the repository passes shellcheck (deployment scripts run on machines we
# cannot debug interactively).
set -u
src=${TEELM_SRC:?}
# shellcheck source=tests/util/skip.sh
. "$src/tests/util/skip.sh"
command -v shellcheck >/dev/null || skip "shellcheck is not installed (scripts/install-deps.sh installs it)"
cd "$src" || exit 1
mapfile -t files < <(git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './build*')
[ ${#files[@]} -gt 0 ] || { echo "no scripts found"; exit 1; }
fail=0
for f in "${files[@]}"; do
  if shellcheck -x "$f"; then :; else echo "FAIL: $f"; fail=$((fail+1)); fi
done
echo "$(( ${#files[@]} - fail )) passed, $fail failed"
[ "$fail" -eq 0 ]
