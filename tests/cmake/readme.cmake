# wds.readme.snippets_compile: every ```cpp block of README.md compiles, with
# the codec macros of wds::wds (blocks needing a codec not built in are skipped
# and listed); the first block is examples/quickstart/main.cpp.
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  set(_wds_readme_defines "$<JOIN:$<TARGET_PROPERTY:wds,INTERFACE_COMPILE_DEFINITIONS>,$<COMMA>>")
  if(TARGET wds_http)
    string(APPEND _wds_readme_defines "$<COMMA>$<JOIN:$<TARGET_PROPERTY:wds_http,INTERFACE_COMPILE_DEFINITIONS>,$<COMMA>>")
  endif()
  add_test(NAME wds.readme.snippets_compile
           COMMAND Python3::Interpreter "${PROJECT_SOURCE_DIR}/tests/readme/check_snippets.py"
                   "${PROJECT_SOURCE_DIR}/README.md" --cxx "${CMAKE_CXX_COMPILER}"
                   --include "${PROJECT_SOURCE_DIR}/include" --defines "${_wds_readme_defines}"
                   --hero "${PROJECT_SOURCE_DIR}/examples/quickstart/main.cpp"
                   --keep "${CMAKE_CURRENT_BINARY_DIR}/readme-snippets")
  set_tests_properties(wds.readme.snippets_compile PROPERTIES LABELS readme TIMEOUT 900)
endif()
