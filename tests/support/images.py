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
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
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


def _await_lane_build() -> str:
    """When scripts/pytest-tiers.sh builds the images alongside this session, it names
    in ``REGISTRO_IMAGES_BUILD_RC`` the file that receives ``make images``' exit status:
    wait for it (instead of building the same images twice at once); "" or why not."""
    rc_file = os.environ.get("REGISTRO_IMAGES_BUILD_RC")
    if not rc_file:
        return ""
    path = Path(rc_file)
    deadline = time.monotonic() + 3600
    while not path.exists():
        if time.monotonic() > deadline:
            return f"container images: {path} did not appear within an hour"
        time.sleep(1)
    rc = path.read_text().strip()
    return "" if rc == "0" else f"container images (make images exited {rc}; see its log)"


# build-images.sh's line for each image done: "<name> <ref> <size> MiB <seconds> s
# built|cached <archive>".
_DONE_LINE = re.compile(r"(?P<name>[a-z]+) +\S+ +\d+ MiB +[\d.]+ s +(?:built|cached) +(?P<archive>/\S+)")


def lane_build_archives(poll: float = 1.0) -> Iterator[tuple[str, Path]]:
    """While scripts/pytest-tiers.sh builds the images alongside this session, each
    image's short name and archive as soon as the build's log (``REGISTRO_IMAGES_BUILD_LOG``) reports
    it done; ends when the build has ended (at once without a lane build)."""
    log, rc = (os.environ.get(v) for v in ("REGISTRO_IMAGES_BUILD_LOG", "REGISTRO_IMAGES_BUILD_RC"))
    if not (log and rc):
        return
    seen, deadline = 0, time.monotonic() + 3600
    while time.monotonic() < deadline:
        ended = Path(rc).exists()  # before the read: then the read has every line
        try:
            lines = Path(log).read_text(errors="replace").splitlines(keepends=True)
        except FileNotFoundError:
            lines = []
        complete = [line for line in lines if line.endswith("\n")]
        for line in complete[seen:]:
            if m := _DONE_LINE.fullmatch(line.rstrip("\n")):
                yield m["name"], Path(m["archive"])
        seen = len(complete)
        if ended:
            return
        time.sleep(poll)


def _build() -> tuple[dict[str, ImageInfo] | None, str]:
    global _containers_conf
    why = _await_lane_build()
    if why:
        return None, why
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
