# Warnings are errors in our own targets only: third-party headers are included as SYSTEM,
# so their warnings never break our build (Seastar's PRIVATE flags habit).
function(coalition_target_warnings target)
    target_compile_options(${target} PRIVATE
        -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
        -Wnon-virtual-dtor -Wold-style-cast -Wcast-align -Woverloaded-virtual
        -Wnull-dereference -Wimplicit-fallthrough -Werror)
endfunction()
