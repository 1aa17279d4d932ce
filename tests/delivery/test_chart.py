"""The Helm chart: lint, render with documented value sets, server-side dry runs
against a real kube-apiserver, schema rejections, RBAC and the generated k8s/."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.delivery.conftest import CHART, REPO, documents, helm_template

MONITORING_CRDS = Path(__file__).with_name("monitoring-crds.yaml")

# Documented value sets (charts/registro/README.md, "Value sets").
VALUE_SETS = {
    "default": [],
    "external-redis-and-postgres": [
        "--set", "redis.enabled=false",
        "--set", "redis.externalUrl=redis://redis.example.internal:6379/0",
        "--set", "database.url=postgresql+psycopg://registro:secret@pg.example.internal:5432/registro",
    ],
    "existing-secrets": [
        "--set", "database.existingSecret=registro-db",
        "--set", "legacy.existingSecret=registro-legacy",
        "--set", "apiKeys.existingSecret=registro-api-keys",
        "--set", "redis.enabled=false", "--set", "redis.existingSecret=registro-redis",
    ],
    "monitoring-crds": ["--api-versions", "monitoring.coreos.com/v1"],
    "ingress-flower-no-netpol": [
        "--set", "api.ingress.enabled=true", "--set", "api.ingress.className=nginx",
        "--set", "api.ingress.tlsSecretName=registro-tls",
        "--set", "flower.enabled=true", "--set", "networkPolicy.enabled=false",
        "--set", "api.autoscaling.enabled=true",
    ],
    "site-profile-legacy-credentials": [
        "--set", "legacy.url=https://erp.example.internal",
        "--set", "legacy.username=robot", "--set", "legacy.password=s3cret-pass",
        "--set-string", "legacy.siteProfile=base_url: https://erp.example.internal",
        "--set", "apiKeys.keys={0123456789abcdef0123}",
    ],
    "site-profile-configmap": [
        "--set", "legacy.url=https://erp.example.internal",
        "--set", "legacy.siteProfileConfigMap=erp-profile",
        "--set", "legacy.siteProfileConfigMapKey=erp.yaml",
        "--set", "legacy.siteProfileChecksum=v1",
    ],
    "legacy-demo": [
        "--set", "legacyDemo.enabled=true",
        "--set", "legacy.url=http://registro-legacy-demo:8080",
        "--set", "legacy.username=demo", "--set", "legacy.password=demo",
    ],
    "redis-sentinel": ["--set", "redis.sentinel.enabled=true"],
}


def kinds(docs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def by_name(docs: list[dict], kind: str, suffix: str) -> dict:
    matches = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].endswith(suffix)]
    assert len(matches) == 1, f"expected one {kind} *{suffix}, got {len(matches)}"
    return matches[0]


def test_helm_lint_strict(helm):
    for extra in ([], ["--set", "flower.enabled=true", "--set", "api.ingress.enabled=true"]):
        proc = subprocess.run([helm, "lint", "--strict", str(CHART), *extra],
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("bad, message", [
    (["--set", "scraperPool.minReplicas=0"], "minReplicas"),
    (["--set", "scraperPool.minReplicas=3", "--set", "scraperPool.maxReplicas=2"],
     "minReplicas must be <="),
    (["--set", "worker.terminationGracePeriodSeconds=300"], "terminationGracePeriodSeconds"),
    (["--set", "worker.concurrency=many"], "concurrency"),
    (["--set", "api.service.type=Magic"], "service/type"),
    (["--set", "redis.enabled=false"], "allOf"),
    (["--set", "database.url=mysql://root@db/registro"], "database/url"),
    (["--set", "apiKeys.keys={short}"], "apiKeys/keys"),
    (["--set", "unknownKnob=1"], "unknownKnob"),
    (["--set", "operator.replicaCount=2"], "operator/replicaCount"),
    (["--set", "redis.appendfsync=sometimes"], "appendfsync"),
    (["--set", "networkPolicy.legacy.cidrs={erp.example.com}"], "legacy/cidrs"),
    (["--set", "networkPolicy.apiServer.ports={0}"], "apiServer/ports"),
    (["--set-string", "legacy.siteProfile=name: x", "--set", "legacy.siteProfileConfigMap=p"],
     "not both"),
    (["--set", "legacy.siteProfileConfigMap=Not_A_Name"], "siteProfileConfigMap"),
    (["--set", "redis.sentinel.enabled=true", "--set", "redis.auth.enabled=false"],
     "needs redis.auth.enabled"),
    (["--set", "redis.sentinel.enabled=true", "--set", "flower.enabled=true"],
     "disable flower.enabled"),
    (["--set", "redis.sentinel.enabled=true", "--set", "redis.sentinel.quorum=3"],
     "quorum must be 1 or 2"),
])
def test_schema_and_checks_reject_bad_values(helm, bad, message):
    proc = subprocess.run([helm, "template", "r", str(CHART), *bad],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0, f"{bad} was accepted"
    assert message in proc.stderr, proc.stderr


def test_default_render_contract(helm):
    docs = documents(helm_template(helm))
    k = kinds(docs)
    for kind in ("Deployment", "StatefulSet", "Service", "NetworkPolicy",
                 "PodDisruptionBudget", "Role", "RoleBinding", "ServiceAccount",
                 "ScraperPool", "ConfigMap", "Secret"):
        assert kind in k, f"default render lacks a {kind}"
    assert "ServiceMonitor" not in k and "PrometheusRule" not in k  # no CRDs, none rendered

    for d in docs:  # app.kubernetes.io labels everywhere
        labels = d["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance",
                    "app.kubernetes.io/managed-by", "helm.sh/chart"):
            assert key in labels, f"{d['kind']}/{d['metadata']['name']} lacks {key}"

    worker = by_name(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    assert worker["terminationGracePeriodSeconds"] > 300
    assert [c["name"] for c in worker["containers"]] == ["worker"]
    # The browser is a native sidecar: stopped only after the worker exited, so a
    # draining worker keeps its browser for the whole grace period.
    browser = next(c for c in worker["initContainers"] if c["name"] == "browser")
    assert browser["restartPolicy"] == "Always"
    assert browser["readinessProbe"] and browser["livenessProbe"]
    assert browser["image"].startswith("selenium/standalone-chromium:")
    assert ":latest" not in browser["image"]
    assert "ports" not in browser, "the WebDriver port must not be declared outside the pod"
    dshm = next(v for v in worker["volumes"] if v["name"] == "dshm")
    assert dshm["emptyDir"]["medium"] == "Memory"
    env = {e["name"]: e for e in worker["containers"][0]["env"]}
    assert env["SELENIUM_URL"]["value"] == "http://127.0.0.1:4444"
    assert "secretKeyRef" in env["REGISTRO_POSTGRES_PASSWORD"]["valueFrom"]

    # Hardening of every Registro container.
    for kind in ("Deployment", "StatefulSet"):
        for d in k[kind]:
            spec = d["spec"]["template"]["spec"]
            assert spec["securityContext"]["runAsNonRoot"] is True
            assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
            for c in spec.get("initContainers", []) + spec["containers"]:
                sc = c["securityContext"]
                assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
                assert sc["allowPrivilegeEscalation"] is False, c["name"]
                if c["name"] != "browser":
                    assert sc["readOnlyRootFilesystem"] is True, c["name"]
                assert "resources" in c and c["resources"]["limits"], c["name"]

    redis = by_name(docs, "StatefulSet", "-redis")
    container = redis["spec"]["template"]["spec"]["containers"][0]
    script = " ".join(container["args"])
    # AOF on; maxmemory with noeviction; the password from the Secret via a 0600 file
    for part in ("--appendonly yes", "--maxmemory 128mb", "--maxmemory-policy noeviction",
                 "umask 077", "requirepass", "exec redis-server /run/redis/auth.conf"):
        assert part in script, (part, script)
    assert "REDIS_PASSWORD" not in script.split("exec", 1)[1]  # not on the command line
    assert redis["spec"]["volumeClaimTemplates"]

    pool = k["ScraperPool"][0]["spec"]
    assert (pool["minReplicas"], pool["maxReplicas"]) == (1, 3)
    assert pool["targetRef"]["name"].endswith("-worker")
    # the depth from Redis by default: it does not depend on the API's readiness
    assert pool["metrics"] == {"redis": {"queue": "scraping"}}
    assert (pool["paused"], pool["failureThreshold"]) == (False, 3)
    operator = by_name(docs, "Deployment", "-operator")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in operator["containers"][0]["env"]}
    assert env["REDIS_URL"]["value"] == "redis://:$(REDIS_PASSWORD)@registro-redis:6379/0"
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "registro-secrets", "key": "redis-password"}
    assert list(env).index("REDIS_PASSWORD") < list(env).index("REDIS_URL")  # expansion order
    endpoint = kinds(documents(helm_template(helm, "--set", "scraperPool.metricsSource=endpoint")))
    pool = endpoint["ScraperPool"][0]["spec"]
    assert pool["metrics"]["endpoint"]["metric"] == "registro_queue_depth"
    assert pool["metrics"]["endpoint"]["url"].endswith("-api.registro.svc:80/metrics")

    dash = by_name(docs, "ConfigMap", "-dashboard")
    assert dash["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dash["data"]["registro-queue.json"] == (
        CHART / "dashboards" / "registro-queue.json").read_text().rstrip("\n")


def test_value_sets_change_what_they_document(helm):
    ext = kinds(documents(helm_template(helm, *VALUE_SETS["external-redis-and-postgres"])))
    assert all(not d["metadata"]["name"].endswith(("-redis", "-postgresql"))
               for d in ext["StatefulSet"] + ext["Service"]) if "StatefulSet" in ext else True
    secret = ext["Secret"][0]["stringData"]
    assert secret["redis-url"].startswith("redis://redis.example.internal")
    assert secret["database-url"].startswith("postgresql+psycopg://")

    existing = kinds(documents(helm_template(helm, *VALUE_SETS["existing-secrets"])))
    assert "Secret" not in existing, "no Secret may be rendered when all are existingSecret"
    env = {e["name"]: e for e in existing["Deployment"][0]["spec"]["template"]["spec"]
           ["containers"][0]["env"]}
    assert env["REGISTRO_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "registro-db"

    mon = kinds(documents(helm_template(helm, *VALUE_SETS["monitoring-crds"])))
    assert len(mon["ServiceMonitor"]) == 3 and len(mon["PrometheusRule"]) == 1
    alerts = {r["alert"] for g in mon["PrometheusRule"][0]["spec"]["groups"] for r in g["rules"]}
    assert {"RegistroQueueGrowingNoWorkers", "RegistroTaskFailureRateHigh",
            "RegistroFallbackInUse", "RegistroOperatorMetricsUnavailable",
            "RegistroLegacySystemFailing"} <= alerts

    ing = kinds(documents(helm_template(helm, *VALUE_SETS["ingress-flower-no-netpol"])))
    assert ing["Ingress"][0]["spec"]["tls"][0]["secretName"] == "registro-tls"
    assert "NetworkPolicy" not in ing
    assert any(d["metadata"]["name"].endswith("-flower") for d in ing["Deployment"])


# --- the site profile (issue 19): linted before start, its checksum rolls the pods -------

LINT = ["registro", "profile", "lint", "/etc/registro/site-profile.yaml"]
PROFILE_A = "name: erp\nbase_url: https://erp.example.internal\n"
PROFILE_B = PROFILE_A + "empty_markers: ['-']\n"


def _pods(helm, *args: str) -> dict[str, dict]:
    """The worker's and the API's pod templates, by component."""
    docs = documents(helm_template(helm, *args))
    return {suffix: by_name(docs, "Deployment", f"-{suffix}")["spec"]["template"]
            for suffix in ("worker", "api")}


def _profile_checksums(pods: dict[str, dict]) -> dict[str, str | None]:
    return {name: pod["metadata"]["annotations"].get("checksum/site-profile")
            for name, pod in pods.items()}


def test_site_profile_is_linted_before_the_pods_start(helm):
    pods = _pods(helm, "--set-string", f"legacy.siteProfile={PROFILE_A}")
    for name, pod in pods.items():
        spec = pod["spec"]
        lint = spec["initContainers"][0]  # first: nothing starts on a broken profile
        assert lint["name"] == "profile-lint", name
        assert lint["command"] == LINT, name
        assert lint["image"].startswith(f"registro-{name}:"), name
        mounts = {m["name"]: m["mountPath"] for m in lint["volumeMounts"]}
        assert mounts["site-profile"] == "/etc/registro", name
        main = spec["containers"][0]
        assert {m["name"]: m["mountPath"] for m in main["volumeMounts"]}["site-profile"] \
            == "/etc/registro", name
        env = {e["name"]: e.get("value") for e in main["env"]}
        assert env["REGISTRO_SITE_PROFILE"] == LINT[-1], name
        volume = next(v for v in spec["volumes"] if v["name"] == "site-profile")
        assert volume["configMap"]["name"] == "registro-site-profile", name
    # an existing ConfigMap: linted too, its key mounted as the profile file
    for name, pod in _pods(helm, *VALUE_SETS["site-profile-configmap"]).items():
        assert pod["spec"]["initContainers"][0]["command"] == LINT, name
        volume = next(v for v in pod["spec"]["volumes"] if v["name"] == "site-profile")
        assert volume["configMap"] == {"name": "erp-profile", "items": [
            {"key": "erp.yaml", "path": "site-profile.yaml"}]}, name
    # no profile (the image's demo profile) or lint turned off: no init container; with
    # lint off the profile is still mounted, so only the flag removed the lint
    for args, mounted in (([], False), (["--set-string", f"legacy.siteProfile={PROFILE_A}",
                                         "--set", "legacy.lintSiteProfile=false"], True)):
        for name, pod in _pods(helm, *args).items():
            names = [c["name"] for c in pod["spec"].get("initContainers", [])]
            assert "profile-lint" not in names, (args, name)
            volumes = [v["name"] for v in pod["spec"]["volumes"]]
            assert ("site-profile" in volumes) is mounted, (args, name, volumes)


def test_a_profile_change_rolls_the_workers_and_the_api(helm):
    import hashlib

    a = _profile_checksums(_pods(helm, "--set-string", f"legacy.siteProfile={PROFILE_A}"))
    b = _profile_checksums(_pods(helm, "--set-string", f"legacy.siteProfile={PROFILE_B}"))
    assert a["worker"] == a["api"] == hashlib.sha256(PROFILE_A.encode()).hexdigest()
    assert b["worker"] == b["api"] != a["worker"]
    assert _profile_checksums(_pods(helm)) == {"worker": None, "api": None}
    # an existing ConfigMap: the user's checksum value, changed by the user
    configmap = VALUE_SETS["site-profile-configmap"]
    v1 = _profile_checksums(_pods(helm, *configmap))
    v2 = _profile_checksums(_pods(helm, *configmap, "--set", "legacy.siteProfileChecksum=v2"))
    assert v1 == {"worker": "v1", "api": "v1"} and v2 == {"worker": "v2", "api": "v2"}
    unset = _profile_checksums(_pods(helm, *configmap, "--set", "legacy.siteProfileChecksum="))
    assert unset == {"worker": None, "api": None}  # documented: nothing to roll on


def _apply_crds(cluster, path: Path) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(path))
    docs = documents(path.read_text())
    for d in docs:
        if d["kind"] == "CustomResourceDefinition":
            cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                            f"crd/{d['metadata']['name']}")


@pytest.mark.k8s
def test_every_value_set_passes_server_side_dry_run(helm, cluster, namespace, tmp_path):
    """Each rendered manifest is applied with --dry-run=server: the API server validates
    it (strict field validation, CRD schemas and CEL rules), nothing is created."""
    _apply_crds(cluster, CHART / "crds" / "scraperpools.yaml")
    # Minimal monitoring.coreos.com CRDs (ServiceMonitor, PrometheusRule) so the
    # dry run can resolve their kinds; see monitoring-crds.yaml.
    _apply_crds(cluster, MONITORING_CRDS)
    failures = []
    for name, args in VALUE_SETS.items():
        rendered = tmp_path / f"{name}.yaml"
        rendered.write_text(helm_template(helm, *args, namespace=namespace))
        proc = cluster.kubectl("apply", "--dry-run=server", "--validate=strict",
                               "-n", namespace, "-f", str(rendered), check=False,
                               timeout=120)
        if proc.returncode != 0:
            failures.append(f"{name}: {proc.stderr.strip()}")
        else:
            assert "(server dry run)" in proc.stdout
    assert not failures, "\n".join(failures)
    # The same dry run does reject what the schemas forbid (so the checks above bite).
    docs = documents(helm_template(helm, namespace=namespace))
    worker = next(d for d in docs if d["kind"] == "Deployment"
                  and d["metadata"]["name"].endswith("-worker"))
    worker["spec"]["template"]["spec"]["containers"][0]["shmSize"] = "1Gi"
    pool = next(d for d in docs if d["kind"] == "ScraperPool")
    pool["spec"]["minReplicas"] = 5
    for bad in (worker, pool):
        proc = cluster.kubectl("apply", "--dry-run=server", "--validate=strict",
                               "-n", namespace, "-f", "-", input=yaml.safe_dump(bad),
                               check=False)
        assert proc.returncode != 0, f"{bad['kind']} with a bad field was accepted"
    # Dry run created nothing.
    out = cluster.kubectl("get", "deployments", "-n", namespace, "-o", "name").stdout
    assert out.strip() == ""


@pytest.mark.k8s
def test_generated_k8s_manifests_apply_with_kustomize(cluster, namespace, tmp_path):
    _apply_crds(cluster, REPO / "k8s" / "crds" / "scraperpools.yaml")
    built = cluster.kubectl("kustomize", str(REPO / "k8s")).stdout
    docs = documents(built)
    assert {d["metadata"].get("namespace") for d in docs
            if d["kind"] not in ("Namespace", "CustomResourceDefinition")} == {"registro"}
    # Same manifests into a throwaway namespace, server-side dry run.
    moved = built.replace("namespace: registro", f"namespace: {namespace}")
    moved = "\n---\n".join(yaml.safe_dump(d) for d in documents(moved)
                           if d["kind"] not in ("Namespace", "CustomResourceDefinition"))
    (tmp_path / "k8s.yaml").write_text(moved)
    proc = cluster.kubectl("apply", "--dry-run=server", "--validate=strict",
                           "-f", str(tmp_path / "k8s.yaml"), check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_k8s_manifests_are_up_to_date(tmp_path):
    """k8s/ must be exactly what `make k8s-manifests` renders from the chart."""
    out = tmp_path / "k8s"
    subprocess.run([str(REPO / "scripts" / "render-k8s.sh"), str(out)], check=True,
                   capture_output=True, timeout=300)
    rendered = {p.relative_to(out) for p in out.rglob("*.yaml")}
    committed = {p.relative_to(REPO / "k8s") for p in (REPO / "k8s").rglob("*.yaml")} \
        - {Path("render-values.yaml")}  # the render's input
    assert len(rendered) >= 4, rendered  # an empty render is no proof
    assert rendered == committed, ("run make k8s-manifests", rendered ^ committed)
    for rel in sorted(rendered):
        assert (REPO / "k8s" / rel).read_text() == (out / rel).read_text(), \
            f"k8s/{rel} is stale: run make k8s-manifests"


# --- RBAC -------------------------------------------------------------------------

NEEDED = [  # (verb, resource) the operator calls
    ("get", "scraperpools.registro.dev"), ("list", "scraperpools.registro.dev"),
    ("watch", "scraperpools.registro.dev"), ("patch", "scraperpools.registro.dev"),
    ("patch", "scraperpools.registro.dev/status"),
    ("get", "deployments.apps/scale"), ("patch", "deployments.apps/scale"),
    ("create", "events"), ("patch", "events"),
    ("list", "pods"), ("patch", "pods"),  # pod-deletion-cost before a scale-down
]
FORBIDDEN = [
    ("delete", "scraperpools.registro.dev"), ("create", "scraperpools.registro.dev"),
    ("patch", "deployments.apps"), ("delete", "deployments.apps"),
    ("create", "deployments.apps"), ("get", "secrets"), ("list", "secrets"),
    ("create", "pods"), ("delete", "pods"), ("create", "pods/exec"), ("get", "pods"),
    ("create", "pods/eviction"), ("update", "pods"),
    ("patch", "statefulsets.apps/scale"), ("create", "roles.rbac.authorization.k8s.io"),
]


def rendered_rbac(helm, namespace: str) -> list[dict]:
    docs = documents(helm_template(helm, namespace=namespace))
    return [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]


@pytest.mark.k8s
def test_chart_rbac_is_least_privilege(helm, cluster, namespace, tmp_path):
    _apply_crds(cluster, CHART / "crds" / "scraperpools.yaml")
    rbac = tmp_path / "rbac.yaml"
    rbac.write_text("\n---\n".join(yaml.safe_dump(d) for d in rendered_rbac(helm, namespace)))
    cluster.kubectl("apply", "-n", namespace, "-f", str(rbac))
    sa = next(d for d in rendered_rbac(helm, namespace) if d["kind"] == "ServiceAccount")
    kubeconfig = cluster.service_account_kubeconfig(namespace, sa["metadata"]["name"])

    def can(verb: str, resource: str, ns: str = namespace) -> bool:
        deadline = time.monotonic() + 10  # RBAC caches settle within a moment
        while True:
            base, _, sub = resource.partition("/")
            extra = [f"--subresource={sub}"] if sub else []
            out = cluster.kubectl("auth", "can-i", verb, base, *extra, "-n", ns,
                                  kubeconfig=kubeconfig, check=False).stdout.strip()
            if out in ("yes", "no") or time.monotonic() > deadline:
                return out == "yes"
            time.sleep(0.5)

    missing = [f"{v} {r}" for v, r in NEEDED if not can(v, r)]
    assert not missing, f"the chart's Role lacks: {missing}"
    extra = [f"{v} {r}" for v, r in FORBIDDEN if can(v, r)]
    assert not extra, f"the chart's Role grants more than needed: {extra}"
    assert not can("get", "scraperpools.registro.dev", "default"), "must be namespaced"


def test_chart_role_matches_operator_rbac(helm):
    """When operator/ ships its own RBAC file, its rules must be the chart's rules."""
    candidates = sorted(p for p in (REPO / "operator").glob("*.y*ml"))
    assert candidates, "operator/ should ship its RBAC yaml (operator/rbac.yaml)"
    chart_rules = next(d for d in rendered_rbac(helm, "registro") if d["kind"] == "Role")["rules"]

    def norm(rules):
        return sorted((tuple(sorted(r.get("apiGroups", []))), tuple(sorted(r["resources"])),
                       tuple(sorted(r["verbs"]))) for r in rules)

    for path in candidates:
        for d in documents(path.read_text()):
            if d.get("kind") in ("Role", "ClusterRole"):
                assert norm(d["rules"]) == norm(chart_rules), \
                    f"{path.name} rules differ from the chart's Role"


def test_readme_values_table_is_generated_from_values_yaml():
    """The Configuration table is exactly what scripts/chart-values-table.py prints."""
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "chart-values-table.py")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout in (CHART / "README.md").read_text(), \
        "charts/registro/README.md values table is stale: scripts/chart-values-table.py --write"


def test_readme_documents_every_value():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    opaque = {"podSecurityContext", "securityContext", "resources", "setupResources",
              "labels", "annotations",
              "affinity", "nodeSelector", "podAnnotations"}

    def leaves(d, prefix=""):
        for k, v in d.items():
            if isinstance(v, dict) and v and k not in opaque:
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}"

    missing = [p for p in leaves(values) if f"| `{p}` |" not in readme]
    assert not missing, f"charts/registro/README.md lacks: {missing}"


@pytest.mark.k8s
def test_helm_install_upgrade_uninstall_on_the_real_api_server(helm, cluster, namespace):
    """A real release: Helm installs the CRD and every object, NOTES tell how to reach
    the API, an upgrade keeps the generated API key and database password, uninstall
    removes the objects. (No kubelet here: pods are not run.)"""
    import base64

    base = [helm, "--kubeconfig", str(cluster.admin_kubeconfig), "-n", namespace]

    def run(*args):
        proc = subprocess.run([*base, *args], capture_output=True, text=True, timeout=180,
                              check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    out = run("install", "registro", str(CHART))
    assert "port-forward svc/registro-api" in out and "kubectl" in out
    assert "get scraperpools" in out

    def secret_data() -> dict:
        raw = cluster.kubectl("get", "secret", "registro-secrets", "-n", namespace,
                              "-o", "json").stdout
        import json

        return {k: base64.b64decode(v).decode() for k, v in json.loads(raw)["data"].items()}

    first = secret_data()
    assert len(first["api-keys"]) >= 32 and len(first["postgres-password"]) >= 32
    assert len(first["redis-password"]) >= 32
    pool = cluster.kubectl("get", "scraperpools", "-n", namespace, "-o", "name").stdout
    assert pool.strip() == "scraperpool.registro.dev/registro"

    run("upgrade", "registro", str(CHART), "--reuse-values", "--set", "api.replicaCount=3")
    assert secret_data() == first, "an upgrade must keep generated secrets"
    replicas = cluster.kubectl("get", "deployment", "registro-api", "-n", namespace,
                               "-o", "jsonpath={.spec.replicas}").stdout
    assert replicas == "3"

    # No kubelet here, so the pre-delete hook's Job would never run: skip the hooks (the
    # hook itself is proven on real pods, tests/cluster/test_zy_uninstall.py).
    run("uninstall", "registro", "--no-hooks")
    left = cluster.kubectl("get", "deployments,statefulsets,scraperpools,secrets", "-n",
                           namespace, "-o", "name").stdout
    # only the generated secrets stay (helm.sh/resource-policy: keep)
    assert [n for n in left.split() if "registro" in n] == ["secret/registro-secrets"], left


def _egress(policy: dict) -> set[tuple[str, int]]:
    """(peer, port) pairs a policy's egress allows; peer = component, 'dns' or a CIDR."""
    out = set()
    for rule in policy["spec"].get("egress", []):
        for peer in rule["to"]:
            if "ipBlock" in peer:
                name = peer["ipBlock"]["cidr"]
            elif "namespaceSelector" in peer:
                name = "dns"
            else:
                name = peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
            for port in rule["ports"]:
                out.add((name, port["port"]))
    return out


def test_egress_policies_allow_exactly_what_each_component_calls(helm):
    docs = documents(helm_template(helm, "--set", "networkPolicy.legacy.cidrs={203.0.113.0/24}",
                                   "--set", "networkPolicy.apiServer.cidrs={192.0.2.10/32}"))
    policies = {d["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: d
                for d in docs if d["kind"] == "NetworkPolicy"}
    for comp, policy in policies.items():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"], comp
    dns = {("dns", 53)}
    data = {("redis", 6379), ("postgresql", 5432)}
    legacy = {("203.0.113.0/24", 443), ("203.0.113.0/24", 80)}
    assert _egress(policies["api"]) == dns | data | legacy  # legacy: the fallback browser
    assert _egress(policies["worker"]) == dns | data | legacy
    # the operator reads the queue depth from Redis (scraperPool.metricsSource=redis)
    assert _egress(policies["operator"]) == dns | {("192.0.2.10/32", 443),
                                                   ("192.0.2.10/32", 6443), ("redis", 6379)}
    assert _egress(policies["redis"]) == set() and _egress(policies["postgresql"]) == set()
    assert _egress(policies["test"]) == dns | {("api", 8000)}
    assert _egress(policies["migrate"]) == dns | {("postgresql", 5432)}
    assert _egress(policies["uninstall"]) == dns | {("192.0.2.10/32", 443),
                                                    ("192.0.2.10/32", 6443)}
    # Every pod the chart renders (the helm test pod and the Jobs included) is selected by one.
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job", "Pod"):
            labels = (d["spec"]["template"]["metadata"]["labels"] if d["kind"] != "Pod"
                      else d["metadata"]["labels"])
            assert labels["app.kubernetes.io/component"] in policies, d["metadata"]["name"]

    external = documents(helm_template(helm, *VALUE_SETS["external-redis-and-postgres"],
                                       "--set", "api.fallbackBrowser.enabled=false"))
    api = next(d for d in external if d["kind"] == "NetworkPolicy"
               and d["metadata"]["name"].endswith("-api"))
    assert _egress(api) == dns | {("0.0.0.0/0", 6379), ("0.0.0.0/0", 5432)}


def test_redis_sentinel_mode_renders_three_pods_and_sentinel_clients(helm):
    docs = kinds(documents(helm_template(helm, *VALUE_SETS["redis-sentinel"])))
    (redis,) = [d for d in docs["StatefulSet"] if d["metadata"]["name"] == "registro-redis"]
    spec = redis["spec"]["template"]["spec"]
    assert redis["spec"]["replicas"] == 3
    assert [c["name"] for c in spec["containers"]] == ["redis", "sentinel"]
    script = spec["containers"][0]["args"][0]
    for part in ("masterauth", "--replica-announce-ip \"$SELF\"", "--replicaof \"$MASTER\"",
                 "--min-replicas-to-write 1", "exec redis-server"):
        assert part in script, part
    sentinel = spec["containers"][1]["args"][0]
    for part in ("sentinel monitor registro $MASTER 6379 2", "sentinel auth-pass registro",
                 "requirepass", "sentinel resolve-hostnames yes"):
        assert part in sentinel, part
    hosts = ",".join(f"registro-redis-{i}.registro-redis-headless.registro.svc:26379"
                     for i in range(3))
    for d in docs["Deployment"]:
        if d["metadata"]["name"].endswith(("-api", "-worker", "-operator")):
            env = {e["name"]: e.get("value") for c in d["spec"]["template"]["spec"]["containers"]
                   for e in c.get("env", [])}
            assert env["REGISTRO_REDIS_SENTINELS"] == hosts, d["metadata"]["name"]
            assert env["REGISTRO_REDIS_MASTER_NAME"] == "registro"
    assert any(d["metadata"]["name"] == "registro-redis" for d in docs["PodDisruptionBudget"])
    policies = {d["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: d
                for d in docs["NetworkPolicy"]}
    assert _egress(policies["redis"]) == {("dns", 53), ("redis", 6379), ("redis", 26379)}
    assert {("redis", 26379), ("redis", 6379)} <= _egress(policies["worker"])
