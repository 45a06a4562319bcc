# cmake -DCXX=... -DWDS_SOURCE_DIR=... -DWORK=... -P mixed_link.cmake
# Two translation units built with different WDS_HAS_JPEG must not link (the
# configuration is in the ABI namespace), and the error must name both
# configurations; with the same WDS_HAS_JPEG they link.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(WRITE "${WORK}/lib.cpp" "#include <wds/sample.hpp>\nstd::size_t count_fields(const wds::sample& s) { return s.size(); }\n")
file(WRITE "${WORK}/main.cpp" "#include <wds/sample.hpp>\nstd::size_t count_fields(const wds::sample& s);\n"
           "int main() { wds::sample s(\"k\"); s.set(\"cls\", std::string_view(\"1\")); return count_fields(s) == 1 ? 0 : 1; }\n")
function(wds_compile src jpeg obj)
  execute_process(COMMAND "${CXX}" -std=c++17 -I "${WDS_SOURCE_DIR}/include" -DWDS_HAS_JPEG=${jpeg}
                          -c "${WORK}/${src}" -o "${WORK}/${obj}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "compiling ${src} failed:\n${out}")
  endif()
endfunction()
wds_compile(lib.cpp 1 lib1.o)
wds_compile(main.cpp 1 main1.o)
wds_compile(main.cpp 0 main0.o)
execute_process(COMMAND "${CXX}" "${WORK}/main1.o" "${WORK}/lib1.o" -o "${WORK}/same"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the same configuration did not link:\n${out}")
endif()
execute_process(COMMAND "${CXX}" "${WORK}/main0.o" "${WORK}/lib1.o" -o "${WORK}/mixed"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "WDS_HAS_JPEG=0 and WDS_HAS_JPEG=1 translation units linked: the ABI namespace does not work")
endif()
if(NOT out MATCHES "count_fields\\(wds::v[0-9_]+_zlib[01]_bz[01]_lzma[01]_zstd[01]_jpeg0_")
  message(FATAL_ERROR "the link failed, but the error does not name the jpeg0 configuration:\n${out}")
endif()
message(STATUS "mixed configurations fail to link, as they should:\n${out}")
