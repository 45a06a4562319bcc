// SPDX-License-Identifier: MIT
// A folder of files to shards, like
//   with wds.ShardWriter("out-%06d.tar", maxcount=1000) as sink:
//       for key, files in samples: sink.write({"__key__": key, **files})
// with DALI .idx files and a wids shard list written along the way.
// usage: wds-folder-to-shards DIR 'out-%06d.tar' [maxcount]
#include <wds/pack.hpp>

#include <cstdio>
#include <cstdlib>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s DIR PATTERN [maxcount]\n", argv[0]);
    return 2;
  }
  wds::shard_writer_options o;
  o.maxcount = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1000;
  o.dali_index = true;               // x.idx beside each x.tar (DALI, random access)
  o.wids_json = "shardindex.json";   // nsamples, filesize, md5sum per shard
  o.post = [](const std::string& shard) { std::printf("wrote %s\n", shard.c_str()); };
  try {
    const wds::pack_report r = wds::pack_directory(argv[1], argv[2], o);
    std::printf("%llu samples in %zu shards (%llu files skipped)\n", static_cast<unsigned long long>(r.samples),
                r.shards.size(), static_cast<unsigned long long>(r.skipped));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
