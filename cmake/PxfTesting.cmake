# pxf_add_unit_test(NAME test_x SOURCES a.c LIBS lib CASES case1 case2 [LABELS extra])
# Builds one cmocka executable and registers one CTest entry per case, so a failure names
# the case. The executable takes the case name as its only argument (a cmocka filter).
function(pxf_add_unit_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;LIBS;CASES;LABELS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_link_libraries(${T_NAME} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  foreach(c IN LISTS T_CASES)
    add_test(NAME unit.${T_NAME}.${c} COMMAND ${T_NAME} ${c}
             WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR})
    set_tests_properties(unit.${T_NAME}.${c} PROPERTIES LABELS "unit;${T_LABELS}" TIMEOUT 60)
  endforeach()
endfunction()

# pxf_add_script_test(NAME n COMMAND cmd... LABELS l TIMEOUT s [FIXTURES_REQUIRED f]
#                     [FIXTURES_SETUP f] [RESOURCE_LOCK r])
function(pxf_add_script_test)
  cmake_parse_arguments(T "" "NAME;TIMEOUT" "COMMAND;LABELS;FIXTURES_REQUIRED;FIXTURES_SETUP;RESOURCE_LOCK" ${ARGN})
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
endfunction()
