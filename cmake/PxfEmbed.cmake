# pxf_embed_text(TARGET HEADER NAME FILE [NAME FILE]...): a generated header, HEADER in the
# target's binary folder, that holds each FILE's text as the C string NAME
# (cmake/embed-text.cmake), so that a script or a page ships inside the executable and
# stays a real file in the source tree (linted, readable) rather than a C literal.
function(pxf_embed_text target header)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${header})
  set(commands)
  set(parts)
  set(inputs)
  set(args ${ARGN})
  while(args)
    list(POP_FRONT args name file)
    get_filename_component(file ${file} ABSOLUTE)
    list(APPEND commands COMMAND ${CMAKE_COMMAND} -DIN=${file} -DOUT=${out}.${name}
         -DNAME=${name} -P ${CMAKE_SOURCE_DIR}/cmake/embed-text.cmake)
    list(APPEND parts ${out}.${name})
    list(APPEND inputs ${file})
  endwhile()
  add_custom_command(OUTPUT ${out} ${commands}
    COMMAND cat ${parts} > ${out}
    DEPENDS ${inputs} ${CMAKE_SOURCE_DIR}/cmake/embed-text.cmake VERBATIM)
  target_sources(${target} PRIVATE ${out})
  target_include_directories(${target} PRIVATE ${CMAKE_CURRENT_BINARY_DIR})
endfunction()
