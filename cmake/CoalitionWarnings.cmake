# Warnings are errors in our own targets only: third-party headers are included as SYSTEM,
# so their warnings never break our build (Seastar's PRIVATE flags habit).
function(coalition_target_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
        -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
        -Wimplicit-fallthrough -Wno-missing-field-initializers -Wno-restrict -Werror)
    # -Wno-restrict: GCC 12 at -O2/-O3 reports impossible overlaps inside std::string's own
    # inlined code (GCC bug 105329).
    # -Wno-missing-field-initializers: GCC 12 warns on C++20 designated initializers that leave
    # defaulted members out, which is their point.
    # Not -Wnull-dereference: GCC 12 reports it inside inlined Asio code, which SYSTEM include
    # directories cannot silence.
endfunction()
