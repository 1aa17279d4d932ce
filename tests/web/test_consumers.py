"""The packed web client in real host applications (web/consumers/: a Vite React app and
a Next.js App Router app): installed from the tarball, type-checked under bundler and
nodenext, built. `node scripts/consumers.mjs test` does the work (web/README.md); `make
web` packs the tarball and `make web-consumers` installs the apps' node_modules first."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require

WEB = Path(__file__).resolve().parents[2] / "web"


@pytest.mark.timeout(900)
def test_consumer_apps_install_type_check_and_build():
    require(shutil.which("node") is not None, "node")
    require((WEB / "dist" / "pack" / "registro-client.tgz").exists(),
            "web/dist/pack/registro-client.tgz (make web)")
    proc = subprocess.run(["node", "scripts/consumers.mjs", "test"], cwd=WEB,
                          capture_output=True, text=True, timeout=840, check=False,
                          env=dict(os.environ))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    require("skipped" not in out, f"consumer apps' node_modules (make web-consumers): {out}")
    print(out[-1500:])
