# Generates a C++ source holding every migrations/*.sql file, so the binaries carry their schema
# and `coalitionctl migrate` needs no files beside it. Runs at build time (cmake -P), so editing
# or adding a migration regenerates the source.
#   cmake -DMIGRATIONS_DIR=... -DOUTPUT=... -P EmbedMigrations.cmake
file(GLOB files "${MIGRATIONS_DIR}/*.sql")
list(SORT files)
set(body "// Generated from migrations/ by cmake/EmbedMigrations.cmake. Do not edit.\n")
string(APPEND body "#include \"storage/migrator.hpp\"\n\nnamespace coalition::storage {\n\n")
string(APPEND body "std::vector<Migration> embedded_migrations() {\n    return {\n")
foreach(file IN LISTS files)
    get_filename_component(name "${file}" NAME)
    file(READ "${file}" sql)
    string(FIND "${sql}" ")__migration__\"" clash)
    if(NOT clash EQUAL -1)
        message(FATAL_ERROR "${name} contains the raw-string delimiter")
    endif()
    string(APPEND body "        {\"${name}\", R\"__migration__(${sql})__migration__\"},\n")
endforeach()
string(APPEND body "    };\n}\n\n}  // namespace coalition::storage\n")
# Write only when changed, so an unchanged schema does not relink everything.
if(EXISTS "${OUTPUT}")
    file(READ "${OUTPUT}" previous)
endif()
if(NOT "${previous}" STREQUAL "${body}")
    file(WRITE "${OUTPUT}" "${body}")
endif()
