// Where the suite finds its data and the binaries it runs. CMake defines
// WDS_TEST_DATA_DIR etc. as these names, and a generated <target>_paths.cpp in
// the build tree holds the values: the compile lines carry no absolute path, so
// a copy of the tree built elsewhere (the quick-start test) hits ccache.
#pragma once

namespace wds_test_paths {
extern const char* const data_dir;
extern const char* const source_dir;
extern const char* const etl_binary;
extern const char* const quickstart_example_binary;
}  // namespace wds_test_paths
