# Differential tester (tests/diff): wds_diff_check compares wds with results
# recorded from Pillow/torchvision. CTest runs it on the committed slice
# tests/data/diff/images (no Python needed); tests/diff/run.sh makes fresh cases.
# tests/data/diff/deviations holds the inputs of README's documented deviations.
if(WDS_HAS_JPEG AND WDS_HAS_PNG)
  add_executable(wds_diff_check "${PROJECT_SOURCE_DIR}/tests/diff/diff_check.cpp")
  target_link_libraries(wds_diff_check PRIVATE wds::wds wds_dev_flags)
  add_test(NAME wds.diff.images_slice
           COMMAND wds_diff_check "${CMAKE_CURRENT_SOURCE_DIR}/data/diff/images")
  set_tests_properties(wds.diff.images_slice PROPERTIES TIMEOUT 300)
  # Mismatches the 20,000-case runs found, each fixed since (tests/data/diff/found).
  add_test(NAME wds.diff.found
           COMMAND wds_diff_check "${CMAKE_CURRENT_SOURCE_DIR}/data/diff/found")
endif()
