"""The real container images, built once per test session by scripts/build-images.sh.

    from tests.support.images import ensure_images
    images = ensure_images()              # {"api": ImageInfo(...), "selenium": ..., ...}
    images["api"].ref                     # docker.io/library/registro-api:0.1.0
    images["api"].archive                 # docker-archive for `ctr -n k8s.io images import`

Short names: debian, python, api, worker, operator, demo, selenium, redis, postgres, flower,
pause. On a laptop without podman (or when the build fails) the calling test skips;
under CI=true that is a failure (``tests.conftest.require``). Run podman yourself with
``podman_env()`` (it points CONTAINERS_CONF at the runc/cgroupfs/ulimits config).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "build-images.sh"


@dataclass(frozen=True)
class ImageInfo:
    name: str
    ref: str
    id: str
    archive: Path
    size_bytes: int
    build_seconds: float
    cold_build_seconds: float
    cached: bool


_lock = threading.Lock()
_result: tuple[dict[str, ImageInfo], str] | tuple[None, str] | None = None
_containers_conf: str | None = None


def _build() -> tuple[dict[str, ImageInfo] | None, str]:
    global _containers_conf
    if shutil.which("podman") is None and os.geteuid() != 0:
        return None, "podman (scripts/build-images.sh installs it as root)"
    proc = subprocess.run([str(SCRIPT)], cwd=REPO, capture_output=True, text=True,
                          timeout=3600, check=False)
    if proc.returncode != 0:
        return None, f"container images (scripts/build-images.sh failed):\n{proc.stderr[-4000:]}"
    manifest = json.loads(Path(proc.stdout.strip().splitlines()[-1]).read_text())
    _containers_conf = manifest["containers_conf"]
    images = {
        name: ImageInfo(name=name, ref=e["ref"], id=e["id"], archive=Path(e["archive"]),
                        size_bytes=e["size_bytes"], build_seconds=e["build_seconds"],
                        cold_build_seconds=e["cold_build_seconds"], cached=e["cached"])
        for name, e in manifest["images"].items()
    }
    return images, ""


def ensure_images() -> dict[str, ImageInfo]:
    """Build (or find cached) every image once per session; skip/fail when impossible."""
    global _result
    with _lock:
        if _result is None:
            _result = _build()
    images, why = _result
    require(images is not None, why)
    assert images is not None
    return images


def podman_env() -> dict[str, str]:
    """Environment for running podman like the build script does."""
    ensure_images()
    return {**os.environ, "CONTAINERS_CONF": str(_containers_conf)}
