"""scripts/pip_config_for_uv.py: uv gets the package sources pip is configured with, in pip's precedence."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
here = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("pip_config_for_uv", REPO / "scripts" / "pip_config_for_uv.py")
pip_config_for_uv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pip_config_for_uv)

LISTING = f"""\
:env:.find-links='{here} /no/such/folder https://wheels.example/links'
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.constraint='/etc/xdg/pip/constraints.txt'
global.extra-index-url='file:///opt/pypi/simple file:///opt/pypi-more/simple'
global.index-url='https://global.example/simple'
user.index-url='https://user.example/simple'
global.find-links='/ignored/by/env'
global.timeout='60'
:env:.default-timeout='180'
"""


def exports(listing: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    lines = pip_config_for_uv.uv_exports(pip_config_for_uv.pip_settings(listing), environ or {})
    out = subprocess.run(["bash", "-c", "\n".join([*lines, "env"])], capture_output=True, text=True, env={},
                         check=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith(("UV_", "SSL_")))


def test_pip_settings_follow_pip_precedence_and_reach_uv():
    got = exports(LISTING)
    assert got["UV_INDEX_URL"] == "https://user.example/simple"  # user file over the global one
    # PIP_FIND_LINKS over the files; a missing folder dropped (pip skips it, uv would stop); uv wants commas
    assert got["UV_FIND_LINKS"] == f"{here},https://wheels.example/links"
    assert got["UV_EXTRA_INDEX_URL"] == "file:///opt/pypi/simple file:///opt/pypi-more/simple"
    assert got["UV_CONSTRAINT"] == "/etc/xdg/pip/constraints.txt"
    assert got["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert got["UV_HTTP_TIMEOUT"] == "180"  # pip's default-timeout: the environment's value over the file's
    assert got["UV_INDEX_STRATEGY"] == "unsafe-best-match"  # pip picks the best version across indexes


def test_uv_variables_already_set_win():
    lines = pip_config_for_uv.uv_exports(pip_config_for_uv.pip_settings(LISTING), {"UV_INDEX_URL": "mine"})
    assert not any(line.startswith("export UV_INDEX_URL=") for line in lines)


def test_no_pip_configuration_exports_only_the_strategy():
    assert exports("") == {"UV_INDEX_STRATEGY": "unsafe-best-match"}


def test_runs_against_this_interpreters_pip():
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "pip_config_for_uv.py")],
                          capture_output=True, text=True, check=True)
    assert all(line.startswith("export ") for line in done.stdout.splitlines())
