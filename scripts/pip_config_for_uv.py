"""Print ``export UV_...`` lines that give uv the package sources and TLS settings pip is configured with.

uv reads none of pip's configuration (pip.conf files, PIP_* variables). scripts/bootstrap_venv.sh installs
through uv, so without this a machine whose pip points at a mirror, a local wheel folder or a constraints
file would install from elsewhere than ``pip install`` does. Run with the interpreter whose pip is meant;
UV_* variables already set win. Prints nothing for settings pip does not have.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

# pip option -> (uv variable, separator uv wants between several values)
OPTIONS = {
    "index-url": ("UV_INDEX_URL", " "),
    "extra-index-url": ("UV_EXTRA_INDEX_URL", " "),
    "find-links": ("UV_FIND_LINKS", ","),
    "constraint": ("UV_CONSTRAINT", " "),
    "no-index": ("UV_NO_INDEX", " "),
    "cert": ("SSL_CERT_FILE", " "),
    "default-timeout": ("UV_HTTP_TIMEOUT", " "),
    "timeout": ("UV_HTTP_TIMEOUT", " "),
}
# Later scopes override earlier ones, as in pip: config files global < user < site, then PIP_* variables.
SCOPES = ("global", "install", "user", "site", ":env:")


def pip_settings(listing: str) -> dict[str, str]:
    """``pip config list`` output (``scope.key='value'`` lines) -> the effective value per key."""
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, sep, value = line.partition("=")
        scope, dot, key = name.rpartition(".")
        if not sep or not dot or scope not in SCOPES:
            continue
        rank = SCOPES.index(scope)
        if key not in found or rank >= found[key][0]:
            found[key] = (rank, shlex.split(value)[0] if value.strip() else "")
    return {key: value for key, (_, value) in found.items()}


def uv_exports(settings: dict[str, str], environ: dict[str, str]) -> list[str]:
    lines = []
    for option, (variable, separator) in OPTIONS.items():
        value = settings.get(option, "").strip()
        if not value or variable in environ or any(line.startswith(f"export {variable}=") for line in lines):
            continue
        if option == "find-links":
            # pip skips a missing local folder with a warning; uv stops with an error.
            value = " ".join(v for v in value.split() if "://" in v or os.path.exists(v))
            if not value:
                continue
        if option == "no-index":
            value = "1" if value.lower() in ("1", "true", "yes", "on") else ""
            if not value:
                continue
        lines.append(f"export {variable}={shlex.quote(separator.join(value.split()))}")
    # pip takes the best version over all indexes; uv's default stops at the first index that has the name.
    lines.append("export UV_INDEX_STRATEGY=${UV_INDEX_STRATEGY:-unsafe-best-match}")
    return lines


def main() -> int:
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    if done.returncode != 0:
        print(f"pip_config_for_uv: `pip config list` failed: {done.stderr.strip()}", file=sys.stderr)
        return 1
    print("\n".join(uv_exports(pip_settings(done.stdout), dict(os.environ))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
