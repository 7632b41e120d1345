find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.81 EXACT REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(GTest REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)

# Third-party headers are SYSTEM so our -Werror never fires inside them.
add_library(coalition_third_party INTERFACE)
target_include_directories(coalition_third_party SYSTEM INTERFACE ${Boost_INCLUDE_DIRS})
target_link_libraries(coalition_third_party INTERFACE
    nlohmann_json::nlohmann_json OpenSSL::SSL OpenSSL::Crypto Threads::Threads)
