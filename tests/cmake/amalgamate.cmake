# `ctest` fails when single_include/wds/wds.hpp is stale (regenerate it with
# tools/amalgamate.py from the repository root and commit it).
find_package(Python3 COMPONENTS Interpreter QUIET)
if(Python3_Interpreter_FOUND)
  add_test(NAME wds.packaging.amalgamation_up_to_date
           COMMAND Python3::Interpreter "${PROJECT_SOURCE_DIR}/tools/amalgamate.py" --check
           WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
  set_tests_properties(wds.packaging.amalgamation_up_to_date PROPERTIES LABELS packaging TIMEOUT 60)
else()
  message(WARNING "wds: python3 not found, the single-header freshness test is not registered")
endif()
