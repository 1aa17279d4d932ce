"""A second value set on the real release (after the flow and scaling tests): Flower
enabled next to the bundled PostgreSQL; its pod reaches Ready."""

from __future__ import annotations

from tests.cluster.conftest import CHART, NAMESPACE, RELEASE, settled, wait_until
from tests.cluster.test_chart import _components


def test_second_value_set_flower(node_cluster, registro_release):
    """Same release upgraded with Flower enabled: its pod gets Ready too."""
    helm = registro_release["helm"]
    helm("upgrade", RELEASE, str(CHART), "-n",
         NAMESPACE, "--reuse-values", "--set", "flower.enabled=true", "--wait", "--timeout",
         "10m")
    wait_until(lambda: "flower" in _components(node_cluster)
               and settled(node_cluster, NAMESPACE), 300, 2,
               what="Flower pod Ready")
    # Flower reaches the password-protected Redis with the URL the chart gives it: the
    # same CELERY_BROKER_URL pings the worker over the broker.
    def worker_answers_flower() -> bool:
        out = node_cluster.kubectl("exec", "-n", NAMESPACE, f"deploy/{RELEASE}-flower", "--",
                                   "celery", "inspect", "ping", "--timeout", "10", check=False)
        return out.returncode == 0 and "pong" in out.stdout
    wait_until(worker_answers_flower, 120, 3, what="a worker answering Flower's broker")
