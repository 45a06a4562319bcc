# cmake -DWDS_SOURCE_DIR=... -P check_headers.cmake
# Every header under include/wds that declares anything in namespace wds must
# open it with WDS_NAMESPACE_BEGIN (the ABI inline namespace, config.hpp) and
# include <wds/config.hpp>; a raw `namespace wds {` is an error.
file(GLOB_RECURSE _headers "${WDS_SOURCE_DIR}/include/wds/*.hpp")
set(_bad "")
foreach(_h IN LISTS _headers)
  file(READ "${_h}" _text)
  file(RELATIVE_PATH _rel "${WDS_SOURCE_DIR}" "${_h}")
  string(REGEX MATCH "(^|\n)[ \t]*namespace[ \t]+wds([ \t]*\\{|::)" _raw "${_text}")
  if(_raw AND NOT _rel STREQUAL "include/wds/config.hpp")  # config.hpp defines the macros
    string(APPEND _bad "  ${_rel}: opens namespace wds directly (use WDS_NAMESPACE_BEGIN / WDS_NAMESPACE_END)\n")
  endif()
  if(_text MATCHES "WDS_NAMESPACE_BEGIN" AND NOT _rel STREQUAL "include/wds/config.hpp"
     AND NOT _text MATCHES "#include [<\"]wds/config.hpp[>\"]")
    string(APPEND _bad "  ${_rel}: uses WDS_NAMESPACE_BEGIN without #include <wds/config.hpp>\n")
  endif()
endforeach()
list(LENGTH _headers _n)
if(_bad)
  message(FATAL_ERROR "wds headers outside the ABI namespace:\n${_bad}")
endif()
message(STATUS "all ${_n} headers under include/wds use WDS_NAMESPACE_BEGIN/END")
