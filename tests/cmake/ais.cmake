# wds_ais_tests: an emulated AIStore target (tests/ais/target_emulator.hpp)
# replays the Go target's requests against the real `wds-etl serve` binary over
# loopback. Built only when Boost (Beast, Asio, URL) is found; the binary under
# test can be swapped at run time with the WDS_ETL_BINARY environment variable.
find_package(Boost 1.81 CONFIG QUIET COMPONENTS url)
find_package(Threads REQUIRED)
if(Boost_FOUND AND TARGET Boost::url)
  file(GLOB WDS_AIS_TEST_SOURCES CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/ais/*.cpp")
  add_executable(wds_ais_tests ${WDS_AIS_TEST_SOURCES})
  if(Catch2_VERSION VERSION_GREATER_EQUAL 3)
    target_link_libraries(wds_ais_tests PRIVATE Catch2::Catch2WithMain)
  else()
    target_sources(wds_ais_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/main.cpp")
    target_link_libraries(wds_ais_tests PRIVATE Catch2::Catch2)
  endif()
  target_link_libraries(wds_ais_tests PRIVATE wds::wds wds_dev_flags Boost::headers Boost::url Threads::Threads)
  target_include_directories(wds_ais_tests PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}")
  wds_test_paths(wds_ais_tests)
  catch_discover_tests(wds_ais_tests WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}"
                       TEST_PREFIX "ais." PROPERTIES TIMEOUT 120)
else()
  message(STATUS "wds: Boost 1.81 (Beast, URL) not found: wds_ais_tests not built")
endif()
