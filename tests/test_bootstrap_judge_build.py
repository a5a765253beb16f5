"""scripts/judge_build_without_common.cmake keeps llama.cpp's common library out of the judge build.

llama-cpp-python forces ``LLAMA_BUILD_COMMON`` on as a cache entry before it adds llama.cpp; llama.cpp declares it
with ``option()`` and builds the library where it reads true. The project below has that shape (the same forced
cache entry, the same ``project`` name, llama.cpp's CMake version range, so ``option()`` keeps a normal variable),
configured with the flag bootstrap_judge.sh passes; then the flag as bootstrap_judge.sh passes it, read from a stand-in
for the judge venv's python.
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


# Stands in for the judge venv's python: the wheel build prints the CMake arguments it got instead of compiling.
FAKE_PYTHON = """#!/usr/bin/env bash
case "$*" in
  *"pip wheel -q --no-deps"*) echo "CMAKE_ARGS=$CMAKE_ARGS"; exit 3 ;;
  *"pip install"*) exit 0 ;;
  *) exit 1 ;;
esac
"""


def cmake_args_of_bootstrap(checkout: Path, cache: Path, user_args: str | None = None) -> str:
    (checkout / "scripts").mkdir(parents=True)
    for name in ("bootstrap_judge.sh", "judge_build_without_common.cmake"):
        shutil.copy(REPO / "scripts" / name, checkout / "scripts" / name)
    fake = checkout / ".venv-judge" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cache), "XDG_CACHE_HOME": str(cache)}
    if user_args:
        env["CMAKE_ARGS"] = user_args
    done = subprocess.run(["bash", str(checkout / "scripts" / "bootstrap_judge.sh"), "--no-models"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 3, done.stderr
    return done.stdout.strip().removeprefix("CMAKE_ARGS=")


@pytest.mark.parametrize("user_args", [None, "-DGGML_CUDA=on"])
def test_bootstrap_passes_the_include_to_every_build(tmp_path, user_args):
    args = cmake_args_of_bootstrap(tmp_path / "checkout", tmp_path / "cache", user_args)
    assert f"-DCMAKE_PROJECT_llama.cpp_INCLUDE={tmp_path / 'checkout' / 'scripts' / INCLUDE.name}" in args.split(" ")
    assert user_args is None or user_args in args.split(" ")


def test_a_checkout_path_with_a_space_builds_the_common_library_too(tmp_path):
    """scikit-build-core splits CMAKE_ARGS at spaces: such a path would break the configure step."""
    assert "INCLUDE" not in cmake_args_of_bootstrap(tmp_path / "a checkout", tmp_path / "cache")
