# wds_diff_shards: the shard half of the differential tester (tests/diff/shards/).
# CTest runs it on the committed fixed slice (no Python needed);
# tests/diff/shards/run.sh N SEED runs fresh cases with the oracle.
add_executable(wds_diff_shards "${CMAKE_CURRENT_SOURCE_DIR}/diff/shards/check.cpp")
target_link_libraries(wds_diff_shards PRIVATE wds::wds wds_dev_flags)
if(WDS_HAS_ZLIB AND WDS_HAS_BZIP2 AND WDS_HAS_LZMA)
  add_test(NAME wds.diff.shards_fixed_slice
           COMMAND wds_diff_shards "${CMAKE_CURRENT_SOURCE_DIR}/diff/shards/slice.corpus.gz")
endif()
# Every mismatch a 20,000-case run found, kept: each must stay README's documented
# deviation (Python ends quietly at a cut header, wds refuses the shard).
if(WDS_HAS_ZLIB)
  add_test(NAME wds.diff.shards_documented_deviations
           COMMAND wds_diff_shards --deviations "${CMAKE_CURRENT_SOURCE_DIR}/diff/shards/deviations.corpus.gz")
endif()
