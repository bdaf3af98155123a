#!/usr/bin/env bash
# The test harness cannot pass silently: a C test that ran no check fails; every skip records its
# kind and reason; scripts/test-summary.py passes a run whose only skips are for an absent
# ../shared, fails one with any other skip unless TEELM_ALLOW_SKIP=1, and fails a test CTest skipped
# without a record. The summary runs on synthetic CTest projects here, so the real suite stays green.
set -u
src=${TEELM_SRC:?}
probe=$(dirname "${TEELM_BIN:?}")/tests/util/skip_probe
summary=$src/scripts/test-summary.py
[ -x "$probe" ] || { echo "FAIL: $probe not built"; exit 1; }
tmp=$(mktemp -d /tmp/teelm-skiprules-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
checks=0 fails=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  checks=$((checks + 1))
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}
# run CASE SHARED_ROOT CMD...: runs CMD as test "case" with its own skip dir; sets rc, out, rec
run() {
  local name=$1 root=$2; shift 2
  rm -rf "$tmp/sk"
  out=$(TEELM_SKIP_DIR=$tmp/sk TEELM_TEST_NAME=$name TEELM_SHARED=$root TEELM_SRC=$src "$@" 2>&1)
  rc=$?
  rec=$(cat "$tmp/sk/$name" 2>/dev/null || echo none)
}
mkdir -p "$tmp/present"
absent=$tmp/no-such-shared
tab=$(printf '\t')

# --- the C harness
run c_zero "$absent" "$probe" zero
check "C: zero checks fails (exit $rc)" test "$rc" = 1
check "C: zero checks says why" grep -q "no check ran" <<<"$out"
run c_pass "$absent" "$probe" pass
check "C: one passing check passes (exit $rc)" test "$rc" = 0
run c_skip "$absent" "$probe" skip "the reference tool is missing"
check "C: test_skip exits 77 ($rc)" test "$rc" = 77
check "C: test_skip prints why" grep -q "^SKIP: the reference tool is missing" <<<"$out"
check "C: test_skip records an ordinary skip ($rec)" test "$rec" = "skip${tab}the reference tool is missing"
run c_shared "$absent" "$probe" shared "no prototype text"
check "C: test_skip_shared records a shared skip ($rec)" test "$rec" = "shared${tab}no prototype text"
run c_shared_present "$tmp/present" "$probe" shared "no prototype text"
check "C: a present ../shared lacking the file is an ordinary skip ($rec)" \
  grep -q "^skip${tab}no prototype text (.*exists but lacks it)" <<<"$rec"

# --- the shell and Python helpers
for lang in sh py; do
  if [ $lang = sh ]; then
    call() { bash -c "source '$src/tests/util/skip.sh'; $1 \"\$0\"" "$2"; }
  else
    call() { /usr/bin/python3 -c "import sys; sys.path.insert(0, '$src/tests/util'); import skip; skip.$1(sys.argv[1])" "$2"; }
  fi
  run ${lang}_skip "$absent" call skip "tool gone"
  check "$lang: skip exits 77 and records it ($rc, $rec)" test "$rc:$rec" = "77:skip${tab}tool gone"
  check "$lang: skip prints why" grep -q "^SKIP: tool gone" <<<"$out"
  run ${lang}_shared "$absent" call skip_shared "no text"
  check "$lang: skip_shared records a shared skip ($rc, $rec)" test "$rc:$rec" = "77:shared${tab}no text"
  run ${lang}_shared_present "$tmp/present" call skip_shared "no text"
  check "$lang: a present ../shared makes it an ordinary skip ($rec)" grep -q "^skip${tab}no text (" <<<"$rec"
done

# --- the summary, on a synthetic CTest project that uses the same test environment
proj=$tmp/proj
mkdir -p "$proj"
cat >"$proj/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.20)
project(skiprules NONE)
enable_testing()
set(env "TEELM_SKIP_DIR=$proj/b/Testing/skips" "TEELM_SHARED=$absent")
add_test(NAME passes COMMAND "$probe" pass)
add_test(NAME zero_checks COMMAND "$probe" zero)
add_test(NAME shared_skip COMMAND "$probe" shared "prototype text absent")
add_test(NAME tool_skip COMMAND "$probe" skip "frobnicator is not installed")
add_test(NAME bypass_skip COMMAND sh -c "echo 'SKIP: went around the helper'; exit 77")
foreach(t passes zero_checks shared_skip tool_skip bypass_skip)
  set_tests_properties(\${t} PROPERTIES SKIP_RETURN_CODE 77 ENVIRONMENT "\${env};TEELM_TEST_NAME=\${t}")
endforeach()
CM
cmake -S "$proj" -B "$proj/b" >/dev/null || { echo "FAIL: cmake on the synthetic project"; exit 1; }
# summarize REGEX [ENV...]: ctest on the tests matching REGEX, then the summary; sets rc, out
summarize() {
  local re=$1; shift
  rm -rf "$proj/b/Testing/skips" "$proj/j.xml"
  (cd "$proj/b" && ctest -R "$re" --output-junit "$proj/j.xml" >/dev/null 2>&1)
  out=$(env "$@" /usr/bin/python3 "$summary" "$proj/j.xml" "$proj/b/Testing/skips" synthetic 2>&1)
  rc=$?
}
summarize '^passes$' TEELM_ALLOW_SKIP=
check "summary: all passed -> 0 ($rc)" test "$rc" = 0
summarize '^zero_checks$' TEELM_ALLOW_SKIP=
check "summary: CTest sees the zero-check test fail" grep -q "1 ran, 0 skipped" <<<"$out"
summarize '^(passes|shared_skip)$' TEELM_ALLOW_SKIP=
check "summary: only a shared skip -> 0 ($rc)" test "$rc" = 0
check "summary: the shared skip is listed with its reason" \
  grep -q "skipped (../shared absent, allowed): shared_skip: prototype text absent" <<<"$out"
summarize '^(passes|shared_skip|tool_skip)$' TEELM_ALLOW_SKIP=
check "summary: a tool skip fails the run ($rc)" test "$rc" = 1
check "summary: the tool skip is listed with its reason" \
  grep -q "skipped: tool_skip: frobnicator is not installed" <<<"$out"
summarize '^(passes|shared_skip|tool_skip)$' TEELM_ALLOW_SKIP=1
check "summary: TEELM_ALLOW_SKIP=1 accepts it ($rc)" test "$rc" = 0
check "summary: and still lists it" grep -q "allowed by TEELM_ALLOW_SKIP=1): tool_skip: frobnicator" <<<"$out"
summarize '^(passes|bypass_skip)$' TEELM_ALLOW_SKIP=
check "summary: a skip that bypassed the helpers fails ($rc)" test "$rc" = 1
check "summary: and shows its SKIP line" grep -q "bypass_skip: SKIP: went around the helper \[skipped without" <<<"$out"
out=$(/usr/bin/python3 "$summary" "$proj/missing.xml" "$proj/b/Testing/skips" 2>&1); rc=$?
check "summary: no JUnit file -> fails ($rc)" test "$rc" = 1

echo "$checks checks, $fails failed"
[ "$checks" -gt 0 ] && [ "$fails" -eq 0 ]
