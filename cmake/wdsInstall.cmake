# Install rules and package files for wds (included by the top-level
# CMakeLists.txt when WDS_INSTALL is ON):
#   <prefix>/include/wds/...                    headers
#   <prefix>/share/cmake/wds/wdsConfig*.cmake   find_package(wds CONFIG)
#   <prefix>/share/pkgconfig/wds.pc             pkg-config (wds-http.pc with wds::http)
# The library is header-only, so everything goes under the arch-independent
# share/ (as nlohmann/json does). The build tree gets an exported config too:
# -Dwds_DIR=<build dir> works without installing.
include(CMakePackageConfigHelpers)

set(WDS_INSTALL_CMAKEDIR "${CMAKE_INSTALL_DATADIR}/cmake/wds" CACHE STRING
    "Where wdsConfig.cmake is installed, relative to the prefix")
set(WDS_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_DATADIR}/pkgconfig" CACHE STRING
    "Where wds.pc is installed, relative to the prefix")

set(_wds_export_targets wds)
if(TARGET wds_http)
  list(APPEND _wds_export_targets wds_http)
  set_target_properties(wds_http PROPERTIES EXPORT_NAME http)
endif()

install(DIRECTORY "${_wds_inc}/wds" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.hpp")
install(TARGETS ${_wds_export_targets} EXPORT wdsTargets)
install(EXPORT wdsTargets NAMESPACE wds:: DESTINATION "${WDS_INSTALL_CMAKEDIR}")
export(EXPORT wdsTargets NAMESPACE wds:: FILE "${PROJECT_BINARY_DIR}/wdsTargets.cmake")

# wdsConfig.cmake replays cmake/wdsDependencies.cmake with the choices made
# here, so the exported link line (ZLIB::ZLIB, libjpeg-turbo::jpeg, ...) resolves.
foreach(_dep ZLIB ISAL BZIP2 LZMA ZSTD JPEG PNG LIBDEFLATE HTTP)
  set(WDS_CONFIG_HAS_${_dep} ${WDS_HAS_${_dep}})
endforeach()
set(WDS_CONFIG_HAS_OPENSSL ${WDS_HAS_OPENSSL})
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/wdsConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/wds-install/wdsConfig.cmake"
  INSTALL_DESTINATION "${WDS_INSTALL_CMAKEDIR}")
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/wdsConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/wdsConfig.cmake"
  INSTALL_DESTINATION "${PROJECT_BINARY_DIR}"
  INSTALL_PREFIX "${PROJECT_BINARY_DIR}")
# SameMinorVersion while 0.x: SameMajorVersion would accept any 0.y.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/wdsConfigVersion.cmake"
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)
configure_file("${CMAKE_CURRENT_LIST_DIR}/wdsDependencies.cmake"
               "${PROJECT_BINARY_DIR}/wdsDependencies.cmake" COPYONLY)
install(FILES
  "${PROJECT_BINARY_DIR}/wds-install/wdsConfig.cmake"
  "${PROJECT_BINARY_DIR}/wdsConfigVersion.cmake"
  "${CMAKE_CURRENT_LIST_DIR}/wdsDependencies.cmake"
  DESTINATION "${WDS_INSTALL_CMAKEDIR}")

# pkg-config: the same -D flags as the CMake target, and the .pc modules of
# the codecs actually used. The prefix is found from the .pc file's own
# location, so the installed tree can be moved (vcpkg, relocated prefixes).
file(RELATIVE_PATH _wds_pc_to_prefix
     "/_wds_prefix/${WDS_INSTALL_PKGCONFIGDIR}" "/_wds_prefix")
string(REGEX REPLACE "/$" "" _wds_pc_to_prefix "${_wds_pc_to_prefix}")
set(WDS_PC_PREFIX "\${pcfiledir}/${_wds_pc_to_prefix}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(WDS_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(WDS_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(WDS_PC_CFLAGS "-DWDS_HAS_ZLIB=${WDS_HAS_ZLIB} -DWDS_HAS_BZIP2=${WDS_HAS_BZIP2} -DWDS_HAS_LZMA=${WDS_HAS_LZMA} -DWDS_HAS_ZSTD=${WDS_HAS_ZSTD} -DWDS_HAS_JPEG=${WDS_HAS_JPEG} -DWDS_HAS_PNG=${WDS_HAS_PNG} -DWDS_HAS_ISAL=${WDS_HAS_ISAL} -DWDS_HAS_LIBDEFLATE=${WDS_HAS_LIBDEFLATE}")
set(_wds_pc_requires "")
set(_wds_pc_libs "")
if(WDS_HAS_ZLIB)
  list(APPEND _wds_pc_requires zlib)
endif()
if(WDS_HAS_BZIP2)
  # No bzip2.pc on Debian (meson does the same): link it by name then.
  if(_wds_pc_bzip2_MODULE_NAME)
    list(APPEND _wds_pc_requires ${_wds_pc_bzip2_MODULE_NAME})
  else()
    list(APPEND _wds_pc_libs -lbz2)
  endif()
endif()
if(WDS_HAS_LZMA)
  list(APPEND _wds_pc_requires liblzma)
endif()
if(WDS_HAS_ZSTD)
  list(APPEND _wds_pc_requires libzstd)
endif()
if(WDS_HAS_ISAL)
  list(APPEND _wds_pc_requires libisal)
endif()
if(WDS_HAS_LIBDEFLATE)
  list(APPEND _wds_pc_requires libdeflate)
endif()
if(WDS_HAS_JPEG)
  # Found through pkg-config: name the module that was found; through CMake
  # config (vcpkg, upstream builds): libjpeg-turbo installs libjpeg.pc.
  if(_wds_pc_libjpeg_MODULE_NAME)
    list(APPEND _wds_pc_requires ${_wds_pc_libjpeg_MODULE_NAME})
  else()
    list(APPEND _wds_pc_requires libjpeg)
  endif()
endif()
if(WDS_HAS_PNG)
  # Debian names it spng.pc; upstream CMake builds and vcpkg install libspng.pc.
  if(_wds_pc_spng_MODULE_NAME)
    list(APPEND _wds_pc_requires ${_wds_pc_spng_MODULE_NAME})
  else()
    list(APPEND _wds_pc_requires libspng)
  endif()
endif()
string(REPLACE ";" ", " WDS_PC_REQUIRES "${_wds_pc_requires}")
string(REPLACE ";" " " _wds_pc_libs "${_wds_pc_libs}")
string(STRIP "${_wds_pc_libs} ${CMAKE_THREAD_LIBS_INIT}" WDS_PC_LIBS)
set(WDS_PC_NAME wds)
set(WDS_PC_DESCRIPTION "${PROJECT_DESCRIPTION}")
configure_file("${CMAKE_CURRENT_LIST_DIR}/wds.pc.in" "${PROJECT_BINARY_DIR}/wds.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/wds.pc" DESTINATION "${WDS_INSTALL_PKGCONFIGDIR}")

if(TARGET wds_http)
  # Boost ships no .pc files: its libraries go on Libs; OpenSSL has openssl.pc.
  set(WDS_PC_NAME wds-http)
  set(WDS_PC_DESCRIPTION "wds HTTP client and AIStore ETL server (Boost.Beast, Boost.URL)")
  set(WDS_PC_REQUIRES "wds = ${PROJECT_VERSION}")
  if(WDS_HAS_OPENSSL)
    string(APPEND WDS_PC_REQUIRES ", openssl")
  endif()
  set(WDS_PC_CFLAGS "-DWDS_HAS_HTTP=1 -DWDS_HAS_OPENSSL=${WDS_HAS_OPENSSL}")
  set(WDS_PC_LIBS "-lboost_url ${CMAKE_THREAD_LIBS_INIT}")
  configure_file("${CMAKE_CURRENT_LIST_DIR}/wds.pc.in" "${PROJECT_BINARY_DIR}/wds-http.pc" @ONLY)
  install(FILES "${PROJECT_BINARY_DIR}/wds-http.pc" DESTINATION "${WDS_INSTALL_PKGCONFIGDIR}")
endif()
