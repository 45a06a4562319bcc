// Lets the suite build with Catch2 v2 (Debian's) and v3.
#pragma once
#if defined(__has_include)
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#define WDS_CATCH_V3 1
#endif
#endif
#ifndef WDS_CATCH_V3
#include <catch2/catch.hpp>
#endif
