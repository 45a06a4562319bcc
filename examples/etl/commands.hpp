// SPDX-License-Identifier: MIT
// Subcommands of wds-etl that live in their own translation units.
#pragma once

// `wds-etl serve ...`: the AIStore ETL server (examples/etl/serve.cpp, built only
// when the wds::http target exists, i.e. Boost.Beast and Boost.URL were found). argv[0] is "serve".
int wds_etl_serve(int argc, char** argv);

// For subcommands in their own translation units: prints the usage error line
// every subcommand uses, "wds-etl SUB: MESSAGE (see wds-etl SUB --help)", and
// returns 2 (e.g. MESSAGE = "unknown option --frob"). main() already answers
// -h/--help (with the subcommand table's usage, or by calling SUB --help) and
// -V/--version for every subcommand.
#include <string>
int wds_etl_usage_error(const char* subcommand, const std::string& message);
// `wds-etl pack DIR -o PATTERN ...`: a folder to shards (examples/etl/pack.cpp).
int wds_etl_pack(int argc, char** argv);
// `wds-etl index SHARD... [-o wids.json]`: DALI .idx + wids JSON (examples/etl/index.cpp).
int wds_etl_index(int argc, char** argv);
