# Included into llama.cpp's own CMake project while llama-cpp-python builds its wheel (bootstrap_judge.sh passes
# it as CMAKE_PROJECT_llama.cpp_INCLUDE). llama-cpp-python forces LLAMA_BUILD_COMMON on, which compiles
# libllama-common and the cpp-httplib it needs: about half of the compile's CPU time, for a library the Python
# bindings never load (they load libllama and the ggml libraries only). A normal variable of the same name
# shadows that cache entry where llama.cpp reads it, so neither is built. libllama and the ggml libraries come out
# instruction for instruction the same as with it (their disassemblies compared), so verdicts do not change.
set(LLAMA_BUILD_COMMON OFF)
