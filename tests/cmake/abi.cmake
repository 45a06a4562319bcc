# The codec configuration is in the ABI (config.hpp, WDS_NAMESPACE_BEGIN):
#  - wds.abi.headers_use_namespace_macros: every header under include/wds uses
#    the macros (catches new headers at merge time);
#  - wds.abi.mixed_config_fails_to_link: WDS_HAS_JPEG=0 and =1 objects do not
#    link, and the error names the configuration.
add_test(NAME wds.abi.headers_use_namespace_macros
         COMMAND "${CMAKE_COMMAND}" -DWDS_SOURCE_DIR=${PROJECT_SOURCE_DIR}
                 -P "${PROJECT_SOURCE_DIR}/tests/abi/check_headers.cmake")
add_test(NAME wds.abi.mixed_config_fails_to_link
         COMMAND "${CMAKE_COMMAND}" -DCXX=${CMAKE_CXX_COMPILER} -DWDS_SOURCE_DIR=${PROJECT_SOURCE_DIR}
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/abi-link -P "${PROJECT_SOURCE_DIR}/tests/abi/mixed_link.cmake")
set_tests_properties(wds.abi.headers_use_namespace_macros wds.abi.mixed_config_fails_to_link
                     PROPERTIES LABELS abi TIMEOUT 300)
