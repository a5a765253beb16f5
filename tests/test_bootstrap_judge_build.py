"""scripts/judge_build_without_common.cmake keeps llama.cpp's common library out of the judge build.

llama-cpp-python forces ``LLAMA_BUILD_COMMON`` on as a cache entry before it adds llama.cpp; llama.cpp declares it
with ``option()`` and builds the library where it reads true. The project below has that shape (the same forced
cache entry, the same ``project`` name, llama.cpp's CMake version range, so ``option()`` keeps a normal variable),
configured with the flag bootstrap_judge.sh passes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
INCLUDE = REPO / "scripts" / "judge_build_without_common.cmake"

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake missing")

PARENT = """cmake_minimum_required(VERSION 3.21)
project(llama_cpp NONE)
set(LLAMA_BUILD_COMMON ON CACHE BOOL "Build llama.cpp common library" FORCE)
add_subdirectory(vendor/llama.cpp)
"""
LLAMA_CPP = """cmake_minimum_required(VERSION 3.14...3.28)
project("llama.cpp" NONE)
option(LLAMA_BUILD_COMMON "llama: build common utils library" OFF)
message(STATUS "common library: ${LLAMA_BUILD_COMMON}")
"""


def configure(tmp_path: Path, *args: str) -> str:
    (tmp_path / "src" / "vendor" / "llama.cpp").mkdir(parents=True)
    (tmp_path / "src" / "CMakeLists.txt").write_text(PARENT)
    (tmp_path / "src" / "vendor" / "llama.cpp" / "CMakeLists.txt").write_text(LLAMA_CPP)
    done = subprocess.run(["cmake", "-S", str(tmp_path / "src"), "-B", str(tmp_path / "build"), *args],
                          capture_output=True, text=True, check=True)
    return re.search(r"common library: (\S+)", done.stdout).group(1)


def test_the_include_turns_the_forced_common_library_off(tmp_path):
    assert configure(tmp_path, f"-DCMAKE_PROJECT_llama.cpp_INCLUDE={INCLUDE}") == "OFF"


def test_without_the_include_the_common_library_is_built(tmp_path):
    assert configure(tmp_path) == "ON"


def test_bootstrap_passes_the_include_to_every_build():
    script = (REPO / "scripts" / "bootstrap_judge.sh").read_text()
    assert 'without_common="-DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/judge_build_without_common.cmake"' in script
    assert script.count("$without_common") == 2  # the CPU-chosen builds and CMAKE_ARGS builds
