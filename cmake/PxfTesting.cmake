# What every cmocka executable links: its case runner (tests/lib/test-main.h) and the
# scratch-folder helpers (tests/lib/temp-tree.h).
add_library(pxf_test_main STATIC ${CMAKE_SOURCE_DIR}/tests/lib/test-main.c
            ${CMAKE_SOURCE_DIR}/tests/lib/temp-tree.c)
target_link_libraries(pxf_test_main PUBLIC pxf_common PkgConfig::CMOCKA)

# pxf_add_unit_test(NAME test-x SOURCES a.c... LIBS lib... [LABEL unit|integration]
#                   [TIMEOUT s])
# Builds one cmocka executable and registers one CTest entry per case, LABEL.NAME.CASE,
# so a failure names the case. The cases are read from the `tests[]` table of the first
# source (lines that start with cmocka_unit_test...(case or MACRO(case), never typed
# twice; LABEL.NAME.registered fails if what was read and the table differ, and the
# executable fails on a case name it does not have (tests/lib/test-main.h).
function(pxf_add_unit_test)
  cmake_parse_arguments(T "" "NAME;LABEL;TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 60)
  endif()
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} pxf_test_main)
  list(GET T_SOURCES 0 main)
  get_filename_component(main ${main} ABSOLUTE)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${main})
  file(STRINGS ${main} lines
       REGEX "^[ \t]*(cmocka_unit_test[a-z_]*|[A-Z][A-Z_]*)\\([a-z][a-z0-9_]*[,)]")
  set(cases)
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*[A-Za-z_]+\\(([a-z0-9_]+).*" "\\1" c "${line}")
    list(APPEND cases ${c})
  endforeach()
  if(NOT cases)
    message(FATAL_ERROR "${T_NAME}: no test cases found in ${main}")
  endif()
  add_test(NAME ${T_LABEL}.${T_NAME}.registered COMMAND ${T_NAME} --registered ${cases})
  set_tests_properties(${T_LABEL}.${T_NAME}.registered PROPERTIES LABELS ${T_LABEL} TIMEOUT 60)
  foreach(c IN LISTS cases)
    add_test(NAME ${T_LABEL}.${T_NAME}.${c} COMMAND ${T_NAME} ${c}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    set_tests_properties(${T_LABEL}.${T_NAME}.${c} PROPERTIES LABELS ${T_LABEL}
                         TIMEOUT ${T_TIMEOUT})
  endforeach()
endfunction()

# pxf_add_script_test(NAME n COMMAND cmd... LABELS l TIMEOUT s [FIXTURES_REQUIRED f]
#                     [FIXTURES_SETUP f] [RESOURCE_LOCK r] [COST seconds])
function(pxf_add_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT;COST" "COMMAND;LABELS;FIXTURES_REQUIRED;FIXTURES_SETUP;RESOURCE_LOCK" ${ARGN})
  add_test(NAME ${T_NAME} COMMAND ${T_COMMAND} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${T_NAME} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "PXF_BIN=$<TARGET_FILE:pxeforge>;PXF_SOURCE_DIR=${CMAKE_SOURCE_DIR};PXF_BUILD_DIR=${CMAKE_BINARY_DIR}")
  if(T_FIXTURES_REQUIRED)
    set_tests_properties(${T_NAME} PROPERTIES FIXTURES_REQUIRED "${T_FIXTURES_REQUIRED}")
  endif()
  if(T_FIXTURES_SETUP)
    set_tests_properties(${T_NAME} PROPERTIES FIXTURES_SETUP "${T_FIXTURES_SETUP}")
  endif()
  if(T_RESOURCE_LOCK)
    set_tests_properties(${T_NAME} PROPERTIES RESOURCE_LOCK "${T_RESOURCE_LOCK}")
  endif()
  # ctest -j starts the costliest tests first (a fresh clone has no timing history):
  # the long VM tests must not be left to run alone at the end.
  if(T_COST)
    set_tests_properties(${T_NAME} PROPERTIES COST ${T_COST})
  endif()
endfunction()

# pxf_add_fuzz_target(NAME n SOURCES harness.c... LIBS libs... CORPUS dir [SECONDS s])
# The harness defines LLVMFuzzerTestOneInput. A normal build links it with
# tests/unit/fuzz-replay.c and replays every file of the seed corpus (test
# fuzz.<n>-replay, label fuzz). With PXF_FUZZ=ON it is a libFuzzer binary (target
# fuzz_<n>, part of `fuzzers`) that test fuzz.<n> (label fuzz-run) runs for SECONDS on a
# scratch copy of the corpus; a crash, leak or timeout fails the test.
function(pxf_add_fuzz_target)
  cmake_parse_arguments(T "" "NAME;CORPUS;SECONDS" "SOURCES;LIBS" ${ARGN})
  if(NOT T_SECONDS)
    set(T_SECONDS 45)
  endif()
  if(PXF_FUZZ)
    add_executable(fuzz_${T_NAME} EXCLUDE_FROM_ALL ${T_SOURCES})
    target_link_options(fuzz_${T_NAME} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(fuzz_${T_NAME} PRIVATE ${T_LIBS})
    add_dependencies(fuzzers fuzz_${T_NAME})
    add_test(NAME fuzz.${T_NAME}
             COMMAND ${CMAKE_SOURCE_DIR}/tests/lib/run-fuzzer.sh $<TARGET_FILE:fuzz_${T_NAME}>
                     ${T_CORPUS} ${T_SECONDS})
    math(EXPR limit "${T_SECONDS} + 120")
    set_tests_properties(fuzz.${T_NAME} PROPERTIES LABELS fuzz-run TIMEOUT ${limit})
  else()
    file(GLOB_RECURSE files CONFIGURE_DEPENDS ${T_CORPUS}/*)
    add_executable(fuzz_${T_NAME}_replay ${CMAKE_SOURCE_DIR}/tests/unit/fuzz-replay.c ${T_SOURCES})
    target_link_libraries(fuzz_${T_NAME}_replay PRIVATE ${T_LIBS})
    add_test(NAME fuzz.${T_NAME}-replay COMMAND fuzz_${T_NAME}_replay ${files})
    set_tests_properties(fuzz.${T_NAME}-replay PROPERTIES LABELS fuzz TIMEOUT 120)
  endif()
endfunction()
