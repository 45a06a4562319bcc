# wds.quickstart.readme_commands: the README's Quick start (tools/demo.sh, then
# tools/test.sh) in a clean copy of the tree must run the whole suite. Long
# (it builds and runs everything once more; ccache makes reruns cheap): skip
# it with `ctest -LE long`. Not registered inside that inner run.
find_program(WDS_BASH bash)
if(WDS_BASH AND NOT DEFINED ENV{WDS_QUICKSTART_INNER})
  add_test(NAME wds.quickstart.readme_commands
           COMMAND "${WDS_BASH}" "${PROJECT_SOURCE_DIR}/tests/quickstart/run.sh"
                   "${PROJECT_SOURCE_DIR}" "${CMAKE_CURRENT_BINARY_DIR}/quickstart")
  set_tests_properties(wds.quickstart.readme_commands PROPERTIES
                       LABELS "long;quickstart" TIMEOUT 3600 SKIP_RETURN_CODE 77)
endif()
