# COALITION_SANITIZE=ON builds everything with AddressSanitizer and UndefinedBehaviorSanitizer;
# UB is fatal so a test run cannot pass over it.
option(COALITION_SANITIZE "Build with ASan + UBSan" OFF)
if(COALITION_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()
