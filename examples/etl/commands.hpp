// SPDX-License-Identifier: MIT
// Subcommands of wds-etl that live in their own translation units.
#pragma once

// `wds-etl serve ...`: the AIStore ETL server (examples/etl/serve.cpp, built only
// when the wds::http target exists, i.e. Boost.Beast and Boost.URL were found). argv[0] is "serve".
int wds_etl_serve(int argc, char** argv);
