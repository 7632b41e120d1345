find_package(Threads REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(Boost 1.81 EXACT REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(GTest REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
# libpq itself, for what libpqxx 6.4 does not wrap (PQconninfoParse: checking COALITION_DB).
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)

# Third-party headers are SYSTEM so our -Werror never fires inside them.
add_library(coalition_third_party INTERFACE)
target_include_directories(coalition_third_party SYSTEM INTERFACE ${Boost_INCLUDE_DIRS})
target_link_libraries(coalition_third_party INTERFACE
    nlohmann_json::nlohmann_json OpenSSL::SSL OpenSSL::Crypto Threads::Threads)

# The allocator of the long-running executables (coalition-server, loadgen): mimalloc. Under load
# the server allocates and frees per request (HTTP buffers, JSON, strings); with glibc's malloc
# that was ~12 % of its CPU, and with mimalloc the server used less CPU a claim in six of seven
# alternating runs, median 58 against 62 µs (docs/performance.md, "The allocator"). Linked as a
# shared library, its malloc and free take the place of glibc's for the whole process. Not with
# the sanitizers, which replace malloc themselves; COALITION_MIMALLOC=OFF keeps glibc's (to
# compare). jemalloc was measured too and is not usable here: the server cannot start under
# libfaketime with it, and the settlement-day tests run it so.
option(COALITION_MIMALLOC "Link coalition-server and loadgen with mimalloc" ON)
add_library(coalition_allocator INTERFACE)
if(COALITION_MIMALLOC AND NOT COALITION_SANITIZE)
    find_package(mimalloc 2.0 REQUIRED)
    target_link_libraries(coalition_allocator INTERFACE mimalloc)
endif()
