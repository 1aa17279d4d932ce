"""A broken site profile given to the chart never reaches a worker: the new pods' init
container runs `registro profile lint` in the real image and fails naming the file and
line, the running pods keep serving, and a rollback restores the release."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.cluster.conftest import CHART, NAMESPACE, RELEASE, pods_ready, settled, wait_until
from tests.support.release import pods

REPO = Path(__file__).resolve().parents[2]


def _lint_failures(cluster) -> list[tuple[str, str]]:
    """(pod, lint output) of worker pods whose profile-lint init container failed: the
    output is the termination message (FallbackToLogsOnError), which outlives the
    container kubelet prunes before each restart."""
    failed = []
    for pod in pods(cluster, NAMESPACE, "app.kubernetes.io/component=worker"):
        for c in pod["status"].get("initContainerStatuses", []):
            for state in (c.get("state", {}), c.get("lastState", {})):
                done = state.get("terminated")
                if c["name"] == "profile-lint" and done and done.get("exitCode"):
                    failed.append((pod["metadata"]["name"], done.get("message", "")))
    return failed


def test_broken_profile_fails_in_the_init_container_with_file_and_line(
        node_cluster, registro_release, tmp_path):
    helm = registro_release["helm"]
    history = json.loads(helm("history", RELEASE, "-n", NAMESPACE, "-o", "json").stdout)
    revision = history[-1]["revision"]
    ready_before = {n for n, ok in pods_ready(node_cluster, NAMESPACE).items() if ok}
    profile = (REPO / "worker" / "profiles" / "demo.yaml").read_text()
    broken = tmp_path / "broken.yaml"
    # a parser chain that cannot give the field's type (tensao_v is text since v2)
    broken.write_text(profile.replace('equipamento.tensao_v: {label: "Tensão"}',
                                      'equipamento.tensao_v: {label: "Tensão", parse: [int]}'))
    assert broken.read_text() != profile
    helm("upgrade", RELEASE, str(CHART), "-n", NAMESPACE, "--reuse-values",
         "--set-file", f"legacy.siteProfile={broken}")
    try:
        failures = wait_until(lambda: [f for f in _lint_failures(node_cluster) if f[1]], 300,
                              2, what="a worker pod's profile-lint init container failing")
        pod, log = failures[0]
        print(f"\n[profile-lint] {pod}:\n{log}")
        assert re.search(r"/etc/registro/site-profile\.yaml:\d+:\d+: error: .*tensao_v", log), log
        # the pods that were serving still are
        still = {n for n, ok in pods_ready(node_cluster, NAMESPACE).items() if ok}
        assert ready_before & still, (ready_before, still)
    finally:
        helm("rollback", RELEASE, str(revision), "-n", NAMESPACE, "--wait", "--timeout", "10m")
    wait_until(lambda: settled(node_cluster, NAMESPACE), 300, 2,
               what="every pod Ready after the rollback")
