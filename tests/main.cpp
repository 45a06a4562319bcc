// Catch2 v2 needs a main TU; with v3 the build links Catch2WithMain instead.
#define CATCH_CONFIG_MAIN
#include "catch.hpp"
