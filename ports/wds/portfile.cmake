# vcpkg overlay port for wds, kept in the wds repository:
#   vcpkg install wds[jpeg,png,libdeflate,zlib,isal,bzip2,lzma,zstd] --overlay-ports=<wds checkout>/ports
# By default it builds the checkout this port lives in (<port dir>/../..).
# To build another tree, set WDS_SOURCE_PATH in the environment and let it
# through vcpkg's environment scrubbing:
#   WDS_SOURCE_PATH=/src/wds VCPKG_KEEP_ENV_VARS=WDS_SOURCE_PATH vcpkg install wds ...
# For a registry, replace the SOURCE_PATH block with
#   vcpkg_from_github(OUT_SOURCE_PATH SOURCE_PATH REPO <owner>/wds
#                     REF "v${VERSION}" SHA512 <sha512 of the archive> HEAD_REF main)
# tests/consumers/port_replay.py runs the configure/install below without vcpkg
# (same options, same fixups) and builds the `usage` consumer against it.

set(VCPKG_BUILD_TYPE release) # header-only port

if(DEFINED ENV{WDS_SOURCE_PATH})
  set(SOURCE_PATH "$ENV{WDS_SOURCE_PATH}")
else()
  get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
endif()
if(NOT EXISTS "${SOURCE_PATH}/include/wds/config.hpp")
  message(FATAL_ERROR "wds: no wds source tree at ${SOURCE_PATH} (set WDS_SOURCE_PATH)")
endif()

# Every codec is ON or OFF by feature, never AUTO: the result depends only on
# the features chosen, not on what else happens to be installed.
vcpkg_check_features(OUT_FEATURE_OPTIONS FEATURE_OPTIONS
  FEATURES
    zlib  WDS_WITH_ZLIB
    isal  WDS_WITH_ISAL
    bzip2 WDS_WITH_BZIP2
    lzma  WDS_WITH_LZMA
    zstd  WDS_WITH_ZSTD
    jpeg  WDS_WITH_JPEG
    png   WDS_WITH_PNG
    libdeflate WDS_WITH_LIBDEFLATE
    http  WDS_WITH_HTTP
)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    ${FEATURE_OPTIONS}
    -DWDS_INSTALL=ON
    -DWDS_BUILD_TESTS=OFF
    -DWDS_BUILD_EXAMPLES=OFF
    -DWDS_BUILD_BENCHMARKS=OFF
    -DWDS_FUZZ=OFF
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME wds CONFIG_PATH share/cmake/wds)
vcpkg_fixup_pkgconfig()

# Header-only: an empty lib/ or debug/ left behind fails vcpkg's post-build checks.
foreach(dir IN ITEMS lib debug)
  file(GLOB_RECURSE leftover LIST_DIRECTORIES false "${CURRENT_PACKAGES_DIR}/${dir}/*")
  if(NOT leftover)
    file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/${dir}")
  endif()
endforeach()

vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
