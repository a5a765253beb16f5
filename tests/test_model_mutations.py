"""The equivalence tests catch every listed model bug (tests/mutation_check.py); its mutants still apply."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mutation_check import MUTANTS, REPO, mutate


def test_every_mutant_applies_to_the_current_code(tmp_path):
    """Each edit matches exactly once, so a refactor cannot quietly turn a mutant into a no-op."""
    for i, mutant in enumerate(MUTANTS):
        copy = tmp_path / str(i)
        shutil.copytree(REPO / "models", copy, ignore=shutil.ignore_patterns("__pycache__"))
        before = (copy / "auroracap" / mutant.file).read_text()
        mutate(copy, mutant)
        assert (copy / "auroracap" / mutant.file).read_text() != before, mutant.name


@pytest.mark.slow
def test_every_listed_bug_is_caught():
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("mutation_check.py"))],
                          capture_output=True, text=True, timeout=1800, cwd=REPO)
    assert done.returncode == 0, done.stderr[-4000:]
    assert f"{len(MUTANTS)}/{len(MUTANTS)} mutants caught" in done.stderr
