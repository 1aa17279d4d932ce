"""Fixtures of the delivery tests (images, chart, manifests, monitoring)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from tests.conftest import require

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "registro"


@pytest.fixture(scope="session")
def helm() -> str:
    """The Helm v3 binary built by scripts/build-helm.sh (cached; quick when built)."""
    proc = subprocess.run([str(REPO / "scripts" / "build-helm.sh")], capture_output=True,
                          text=True, timeout=1800, check=False)
    require(proc.returncode == 0, f"helm (scripts/build-helm.sh failed: {proc.stderr[-2000:]})")
    return proc.stdout.strip().splitlines()[-1]


def helm_template(helm: str, *args: str, release: str = "registro",
                  namespace: str = "registro") -> str:
    proc = subprocess.run(
        [helm, "template", release, str(CHART), "--namespace", namespace, *args],
        capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"helm template {args} failed:\n{proc.stderr}"
    return proc.stdout


def documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.fixture(scope="session")
def cluster(request):
    """The project's real API server: the shared ``kube_cluster`` fixture when the
    operator's conftest provides it, else one started here the same way."""
    try:
        yield request.getfixturevalue("kube_cluster")
        return
    except pytest.FixtureLookupError:
        pass
    from tests.support import kube

    bins = kube.bin_dir()
    require(bins is not None, "Kubernetes control plane binaries (scripts/build-k8s.sh)")
    started = kube.start_control_plane(bins)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def namespace(cluster):
    """A fresh namespace, deleted afterwards."""
    name = f"delivery-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
