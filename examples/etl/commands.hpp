// SPDX-License-Identifier: MIT
// Subcommands of wds-etl that live in their own translation units.
#pragma once

// `wds-etl serve ...`: the AIStore ETL server (examples/etl/serve.cpp, built only
// when the wds::http target exists, i.e. cpp-httplib was found). argv[0] is "serve".
int wds_etl_serve(int argc, char** argv);

// `wds-etl pack DIR -o PATTERN ...`: a folder to shards (examples/etl/pack.cpp).
int wds_etl_pack(int argc, char** argv);
// `wds-etl index SHARD... [-o wids.json]`: DALI .idx + wids JSON (examples/etl/index.cpp).
int wds_etl_index(int argc, char** argv);
