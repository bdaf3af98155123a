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

function(_teelm_test_props name timeout labels)
  if(NOT timeout)
    set(timeout 300)
  endif()
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${TEELM_TEST_ENV};TEELM_TEST_NAME=${name}"
    SKIP_RETURN_CODE 77 TIMEOUT ${timeout})
  if(labels)
    set_tests_properties(${name} PROPERTIES LABELS "${labels}")
  endif()
endfunction()
