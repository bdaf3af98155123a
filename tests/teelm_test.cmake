# Helpers shared by tests/*/CMakeLists.txt.
# teelm_c_test(NAME SOURCE [LABELS l1 l2] [TIMEOUT s]): a C test linked against teelm_core.
# Tests find the shared fixtures through TEELM_SHARED (../shared beside the checkout) and the
# binary through TEELM_BIN; they skip (exit 77, printing why) when a dependency is absent, through
# tests/util/test.h, skip.sh or skip.py, which record the reason in TEELM_SKIP_DIR/TEELM_TEST_NAME
# for scripts/test-summary.sh (a skip fails `make test` unless it is for an absent ../shared or
# TEELM_ALLOW_SKIP=1). TEELM_SANITIZE=1 tells tests they run in the sanitizer build, so soaks
# can scale their counts down.
set(TEELM_SHARED_DIR "${CMAKE_SOURCE_DIR}/../shared")
if(TEELM_SANITIZE)
  set(TEELM_TEST_SANITIZE 1)
else()
  set(TEELM_TEST_SANITIZE 0)
endif()
set(TEELM_TEST_ENV
  "TEELM_SHARED=${TEELM_SHARED_DIR}"
  "TEELM_SKIP_DIR=${CMAKE_BINARY_DIR}/Testing/skips"
  "TEELM_SANITIZE=${TEELM_TEST_SANITIZE}"
  "TEELM_BIN=$<TARGET_FILE:teelm>"
  "TEELM_SRC=${CMAKE_SOURCE_DIR}"
  "TEELM_PYTHON=/usr/bin/python3"
  "ASAN_OPTIONS=detect_leaks=1:abort_on_error=0"
  "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")

function(teelm_c_test name src)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS" ${ARGN})
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/util/test.c)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests/util)
  target_link_libraries(${name} PRIVATE teelm_core)
  add_test(NAME ${name} COMMAND ${name})
  _teelm_test_props(${name} "${T_TIMEOUT}" "${T_LABELS}")
endfunction()

# teelm_script_test(NAME SCRIPT [LABELS ..] [TIMEOUT s]): a shell or Python test script.
function(teelm_script_test name script)
  cmake_parse_arguments(T "" "TIMEOUT" "LABELS" ${ARGN})
  add_test(NAME ${name} COMMAND ${script})
  _teelm_test_props(${name} "${T_TIMEOUT}" "${T_LABELS}")
endfunction()

# Expected seconds of the long tests (ctest's COST): `ctest -j` starts the costliest first, so a long
# test does not begin last and leave the run waiting on it alone. A build's own measurements
# (Testing/Temporary/CTestCostData.txt) take over once it has run; a fresh CI clone has none, so
# without these ctest would start tests in declaration order. Relative sizes are what matter:
# measured on the 2-core machine, 2026-12-03.
set(TEELM_TEST_COSTS
  test_engine_train500=600 test_tokenizer_hf=90 test_gguf_generate=80 test_server_e2e=70
  test_hf_reference=70 test_hf_load=60 test_lm_hf=60 test_server_hostile=50 test_import=45
  test_kbs_e2e=40 test_trustee_e2e=32 test_hf_cli=30 test_tokenizer_tiktoken=25 test_openai_sdk=22
  test_hf_generate=20)

function(_teelm_test_props name timeout labels)
  if(NOT timeout)
    set(timeout 300)
  endif()
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${TEELM_TEST_ENV};TEELM_TEST_NAME=${name}"
    SKIP_RETURN_CODE 77 TIMEOUT ${timeout})
  if(labels)
    set_tests_properties(${name} PROPERTIES LABELS "${labels}")
  endif()
  foreach(c ${TEELM_TEST_COSTS})
    if(c MATCHES "^${name}=([0-9]+)$")
      set_tests_properties(${name} PROPERTIES COST ${CMAKE_MATCH_1})
    endif()
  endforeach()
endfunction()
