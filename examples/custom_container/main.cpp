// SPDX-License-Identifier: MIT
// A custom AIStore ETL container in a few lines: every shard that AIStore
// sends (hpush, hpull, etl_fqn, direct put) goes through caption_cleanup(),
// a user-defined per-sample function; wds/ais.hpp does the HTTP side.
//
//   wds-custom-etl [PORT]      (default 8000; AIS_TARGET_URL etc. from the environment)
#include <wds/ais.hpp>
#include <wds/sample.hpp>
#include <wds/tar.hpp>

#include <cctype>
#include <cstdlib>
#include <string>

// The per-sample function: captions ("txt") lower-cased, whitespace collapsed.
void caption_cleanup(wds::sample& s) {
  wds::field* txt = s.find("txt");
  if (!txt) return;
  std::string clean;
  for (char c : txt->text()) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!clean.empty() && clean.back() != ' ') clean += ' ';
    } else {
      clean += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (!clean.empty() && clean.back() == ' ') clean.pop_back();
  s.set("txt", clean);
}

int main(int argc, char** argv) {
  wds::ais::server_options options = wds::ais::server_options::from_environment();
  if (argc > 1) options.port = std::atoi(argv[1]);
  wds::ais::server server(
      [](wds::any_source& in, wds::any_sink& out, wds::ais::object_request& req) {
        wds::sample_reader samples(std::move(in), req.path);  // tar in, grouped by key
        wds::tar_writer shard(std::move(out));                // tar out, same order
        while (auto s = samples.next()) {
          caption_cleanup(*s);
          shard.write_sample(*s);
        }
        shard.finish();
      },
      options);
  return wds::ais::serve_until_signal(server);  // until SIGTERM; bad shards get a 4xx
}
