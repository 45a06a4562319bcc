# Packaging checks that CTest runs with the unit tests:
#  - the vcpkg overlay port's manifest and portfile agree (lint), and the exact
#    configure/install the portfile issues works, relocated, for a find_package
#    and a pkg-config consumer (tests/consumers/run.sh vcpkg-port);
#  - CMake, pkg-config and meson define the same WDS_* macros
#    (tools/check_build_options.py).
# The other consumers (add_subdirectory, FetchContent, meson, single header...)
# run from tests/consumers/run.sh, which CI calls directly.
find_package(Python3 COMPONENTS Interpreter QUIET)
find_program(WDS_BASH bash)
if(Python3_Interpreter_FOUND)
  add_test(NAME wds.packaging.vcpkg_manifest_lint
           COMMAND Python3::Interpreter "${PROJECT_SOURCE_DIR}/tests/consumers/port_replay.py"
                   lint "${PROJECT_SOURCE_DIR}")
  set_tests_properties(wds.packaging.vcpkg_manifest_lint PROPERTIES LABELS packaging TIMEOUT 60)
  if(EXISTS "${PROJECT_SOURCE_DIR}/tools/check_build_options.py")
    add_test(NAME wds.packaging.build_options_agree
             COMMAND Python3::Interpreter "${PROJECT_SOURCE_DIR}/tools/check_build_options.py"
             WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
    set_tests_properties(wds.packaging.build_options_agree PROPERTIES LABELS packaging TIMEOUT 300)
  endif()
endif()
if(WDS_BASH AND Python3_Interpreter_FOUND)
  add_test(NAME wds.packaging.vcpkg_port_replay
           COMMAND "${WDS_BASH}" "${PROJECT_SOURCE_DIR}/tests/consumers/run.sh"
                   "${PROJECT_SOURCE_DIR}" vcpkg-port)
  set_tests_properties(wds.packaging.vcpkg_port_replay PROPERTIES LABELS packaging TIMEOUT 900)
endif()
