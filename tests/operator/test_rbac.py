"""The operator's ServiceAccount, bound to operator/rbac.yaml, can do what it needs and
nothing more (``kubectl auth can-i --as``, and a real forbidden call)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.k8s

NEEDED = [
    ("get", "scraperpools.registro.dev", None),
    ("list", "scraperpools.registro.dev", None),
    ("watch", "scraperpools.registro.dev", None),
    ("patch", "scraperpools.registro.dev", None),
    ("get", "scraperpools.registro.dev", "status"),
    ("patch", "scraperpools.registro.dev", "status"),
    ("get", "deployments.apps", "scale"),
    ("patch", "deployments.apps", "scale"),
    ("create", "events", None),
    ("patch", "events", None),
    ("list", "pods", None),
    ("patch", "pods", None),
]

NOT_NEEDED = [
    ("create", "scraperpools.registro.dev", None),
    ("update", "scraperpools.registro.dev", None),
    ("delete", "scraperpools.registro.dev", None),
    ("update", "scraperpools.registro.dev", "status"),
    ("get", "deployments.apps", None),
    ("patch", "deployments.apps", None),
    ("delete", "deployments.apps", None),
    ("update", "deployments.apps", "scale"),
    ("get", "secrets", None),
    ("list", "secrets", None),
    ("get", "pods", None),
    ("watch", "pods", None),
    ("create", "pods", None),
    ("update", "pods", None),
    ("delete", "pods", None),
    ("create", "pods", "eviction"),
    ("create", "pods", "exec"),
    ("list", "events", None),
    ("delete", "events", None),
    ("create", "rolebindings.rbac.authorization.k8s.io", None),
    ("create", "serviceaccounts/token", None),
    ("*", "*", None),
]


def can_i(kube_cluster, namespace, verb, resource, subresource, *, in_namespace=None):
    args = ["auth", "can-i", verb, resource, "-n", in_namespace or namespace,
            f"--as=system:serviceaccount:{namespace}:registro-operator"]
    if subresource:
        args.append(f"--subresource={subresource}")
    result = kube_cluster.kubectl(*args, check=False)
    assert result.stdout.strip() in {"yes", "no"}, result.stderr
    return result.stdout.strip() == "yes"


def test_service_account_has_exactly_the_needed_verbs(kube_cluster, operator_kubeconfig,
                                                      namespace):
    missing = [c for c in NEEDED if not can_i(kube_cluster, namespace, *c)]
    extra = [c for c in NOT_NEEDED if can_i(kube_cluster, namespace, *c)]
    assert (missing, extra) == ([], [])


def test_nothing_outside_its_namespace_or_cluster_wide(kube_cluster, operator_kubeconfig,
                                                       namespace):
    for verb, resource, sub in NEEDED:
        assert not can_i(kube_cluster, namespace, verb, resource, sub, in_namespace="default")
    result = kube_cluster.kubectl(
        "auth", "can-i", "list", "scraperpools.registro.dev", "--all-namespaces",
        f"--as=system:serviceaccount:{namespace}:registro-operator", check=False)
    assert result.stdout.strip() == "no"
    result = kube_cluster.kubectl(
        "auth", "can-i", "list", "customresourcedefinitions.apiextensions.k8s.io",
        f"--as=system:serviceaccount:{namespace}:registro-operator", check=False)
    assert result.stdout.strip() == "no"


def test_the_token_itself_is_refused_beyond_its_role(kube_cluster, operator_kubeconfig,
                                                     namespace):
    ok = kube_cluster.kubectl("get", "scraperpools", "-n", namespace,
                              kubeconfig=operator_kubeconfig, check=False)
    assert ok.returncode == 0, ok.stderr
    denied = kube_cluster.kubectl("get", "secrets", "-n", namespace,
                                  kubeconfig=operator_kubeconfig, check=False)
    assert denied.returncode != 0
    assert "forbidden" in denied.stderr.lower()
    assert f"system:serviceaccount:{namespace}:registro-operator" in denied.stderr
