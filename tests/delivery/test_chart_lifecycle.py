"""The chart's state and lifecycle values (issue 20), rendered: Redis auth, the uninstall
hook, the GitOps mode (no lookup, byte-identical renders), the migrations Job, the
production values every workload takes, and the render-time guardrails."""

from __future__ import annotations

import subprocess

import pytest

from tests.delivery.conftest import CHART, documents, helm_template
from tests.delivery.test_chart import by_name, kinds

GITOPS = ["--set", "gitops=true", "--set", "postgresql.auth.password=pg-pass-0123456789",
          "--set", "redis.auth.password=redis-pass-0123456789",
          "--set", "apiKeys.keys={0123456789abcdef0123}"]


def _fails(helm, *args: str) -> str:
    proc = subprocess.run([helm, "template", "r", str(CHART), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode != 0, f"{args} was accepted"
    return proc.stderr


def _pod_specs(docs: list[dict]) -> dict[str, dict]:
    """Every pod template (and pod) of a render, by Kind/name."""
    out = {}
    for d in docs:
        if d["kind"] in ("Deployment", "StatefulSet", "Job"):
            out[f"{d['kind']}/{d['metadata']['name']}"] = d["spec"]["template"]
        elif d["kind"] == "Pod":
            out[f"Pod/{d['metadata']['name']}"] = d
    return out


# --- Redis ------------------------------------------------------------------------


def test_redis_password_reaches_every_client(helm):
    docs = documents(helm_template(helm, "--set", "flower.enabled=true"))
    secret = by_name(docs, "Secret", "-secrets")
    assert len(secret["stringData"]["redis-password"]) == 32
    for name, pod in _pod_specs(docs).items():
        for c in pod["spec"]["containers"]:
            env = {e["name"]: e for e in c.get("env", [])}
            if "REDIS_URL" in env:
                assert env["REDIS_URL"]["value"].startswith("redis://:$(REDIS_PASSWORD)@"), name
                assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == \
                    "redis-password", name
    flower = by_name(docs, "Deployment", "-flower")["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "CELERY_BROKER_URL", "value": "$(REDIS_URL)"} in flower["env"]
    # your Secret instead; or no auth at all
    own = documents(helm_template(helm, "--set", "redis.auth.existingSecret=my-redis",
                                  "--set", "redis.auth.existingSecretKey=pw"))
    assert "redis-password" not in by_name(own, "Secret", "-secrets")["stringData"]
    api = by_name(own, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    ref = {e["name"]: e for e in api["env"]}["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "my-redis", "key": "pw"}
    off = documents(helm_template(helm, "--set", "redis.auth.enabled=false"))
    api = by_name(off, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e for e in api["env"]}["REDIS_URL"]["value"] == \
        "redis://registro-redis:6379/0"
    assert "--maxmemory-policy" in by_name(off, "StatefulSet", "-redis")["spec"]["template"][
        "spec"]["containers"][0]["args"]


def test_redis_password_must_be_url_safe(helm):
    assert "redis/auth/password" in _fails(helm, "--set", "redis.auth.password=a@b/c")


# --- Uninstall and kept secrets ----------------------------------------------------


def test_uninstall_hook_deletes_the_pool_with_least_privilege(helm):
    docs = documents(helm_template(helm))
    hooks = [d for d in docs if d["metadata"].get("annotations", {}).get("helm.sh/hook")
             == "pre-delete"]
    assert sorted(d["kind"] for d in hooks) == ["Job", "Role", "RoleBinding", "ServiceAccount"]
    role = next(d for d in hooks if d["kind"] == "Role")
    assert role["rules"] == [{"apiGroups": ["registro.dev"], "resources": ["scraperpools"],
                              "verbs": ["get", "list", "delete", "patch"]}]
    weights = {d["kind"]: int(d["metadata"]["annotations"]["helm.sh/hook-weight"])
               for d in hooks}
    assert weights["ServiceAccount"] < weights["Job"]  # its account exists first
    job = next(d for d in hooks if d["kind"] == "Job")["spec"]["template"]["spec"]
    assert job["securityContext"]["runAsNonRoot"] is True
    # a NetworkPolicy covers the hook's pod (DNS and the API server only)
    policy = by_name(docs, "NetworkPolicy", "-uninstall")
    assert policy["spec"]["ingress"] == []
    # no pool, no hook
    assert not [d for d in documents(helm_template(helm, "--set", "scraperPool.create=false"))
                if d["metadata"].get("annotations", {}).get("helm.sh/hook") == "pre-delete"]


def test_generated_secret_is_kept_on_uninstall(helm):
    secret = by_name(documents(helm_template(helm)), "Secret", "-secrets")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


# --- GitOps mode --------------------------------------------------------------------


def test_gitops_render_is_stable(helm):
    first, second = helm_template(helm, *GITOPS), helm_template(helm, *GITOPS)
    assert first == second  # byte-identical: no random value, no lookup
    # (the default mode generates passwords: two renders differ, so the check has teeth)
    assert helm_template(helm) != helm_template(helm)
    docs = documents(first)
    secret = by_name(docs, "Secret", "-secrets")["stringData"]
    assert secret["postgres-password"] == "pg-pass-0123456789"
    assert secret["redis-password"] == "redis-pass-0123456789"
    # the operator owns the worker replicas: a GitOps sync never resets them
    assert "replicas" not in by_name(docs, "Deployment", "-worker")["spec"]


def test_gitops_render_with_existing_secrets_only(helm):
    out = helm_template(helm, "--set", "gitops=true",
                        "--set", "postgresql.auth.existingSecret=pg",
                        "--set", "redis.auth.existingSecret=rd",
                        "--set", "apiKeys.existingSecret=keys")
    assert out == helm_template(helm, "--set", "gitops=true",
                                "--set", "postgresql.auth.existingSecret=pg",
                                "--set", "redis.auth.existingSecret=rd",
                                "--set", "apiKeys.existingSecret=keys")
    assert "kind: Secret" not in out.replace("kind: SecretList", "")


@pytest.mark.parametrize("missing, message", [
    ("postgresql.auth.password", "postgresql.auth.password or postgresql.auth.existingSecret"),
    ("redis.auth.password", "redis.auth.password or redis.auth.existingSecret"),
    ("apiKeys.keys", "apiKeys.keys or apiKeys.existingSecret"),
])
def test_gitops_names_the_secret_it_cannot_generate(helm, missing, message):
    args = []
    for i in range(0, len(GITOPS), 2):
        if not GITOPS[i + 1].startswith(missing + "="):
            args += GITOPS[i:i + 2]
    err = _fails(helm, *args)
    assert "gitops=true" in err and message in err, err


# --- Guardrails -----------------------------------------------------------------------


@pytest.mark.parametrize("bad, message", [
    (["--set", "worker.brokerVisibilityTimeoutSeconds=300"],
     "worker.brokerVisibilityTimeoutSeconds (300) must exceed worker.taskTimeLimitSeconds (300)"),
    (["--set", "scraperPool.scaleDownStabilizationSeconds=120"],
     "scraperPool.scaleDownStabilizationSeconds (120) must be at least "
     "worker.taskTimeLimitSeconds (300)"),
    (["--set", "worker.concurrency=2"],
     "worker.concurrency (2) must not exceed browser.maxSessions (1)"),
    (["--set", "api.terminationGracePeriodSeconds=30"],
     "api.terminationGracePeriodSeconds (30) must exceed api.preStopSeconds + "
     "api.gracefulShutdownSeconds"),
    (["--set", "api.ingress.enabled=true", "--set", "api.ingress.paths={/}"],
     "api.ingress.paths must not publish /metrics"),
    (["--set", "api.ingress.enabled=true", "--set", "api.ingress.paths={/api,/metrics}"],
     "api.ingress.paths must not publish /metrics"),
])
def test_guardrails_fail_the_render_with_a_clear_message(helm, bad, message):
    err = _fails(helm, *bad)
    assert message in err, err


def test_guardrails_accept_consistent_values(helm):
    docs = documents(helm_template(helm, "--set", "worker.concurrency=2",
                                   "--set", "browser.maxSessions=2"))
    worker = by_name(docs, "Deployment", "-worker")["spec"]["template"]["spec"]
    browser = next(c for c in worker["initContainers"] if c["name"] == "browser")
    assert {"name": "SE_NODE_MAX_SESSIONS", "value": "2"} in browser["env"]
    env = {e["name"]: e.get("value") for e in worker["containers"][0]["env"]}
    assert env["REGISTRO_BROKER_VISIBILITY_TIMEOUT_S"] == "900"


# --- Production values --------------------------------------------------------------

PROD = [
    "--set", "priorityClassName=registro-high",
    "--set", "worker.priorityClassName=registro-batch",
    "--set", "podLabels.team=ops", "--set", "podAnnotations.owner=ops",
    "--set", "imagePullSecrets[0].name=regcred",
    "--set", "flower.enabled=true",
    "--set", "legacyDemo.enabled=true", "--set", "legacy.url=http://registro-legacy-demo:8080",
    "--set", "caBundle.configMap=corp-ca",
    "--set", "extraEnvFrom[0].configMapRef.name=proxy-env",
    "--set", "extraVolumes[0].name=extra", "--set", "extraVolumes[0].emptyDir.medium=Memory",
    "--set", "extraVolumeMounts[0].name=extra",
    "--set", "extraVolumeMounts[0].mountPath=/extra",
]
SPREAD = ("{\"maxSkew\":1,\"topologyKey\":\"topology.kubernetes.io/zone\","
          "\"whenUnsatisfiable\":\"ScheduleAnyway\"}")


def test_every_pod_takes_the_production_values(helm):
    components = ("api", "worker", "operator", "redis", "postgresql", "flower")
    spread = [a for c in components
              for a in ("--set-json", f"{c}.topologySpreadConstraints=[{SPREAD}]")]
    docs = documents(helm_template(helm, *PROD, *spread))
    pods = _pod_specs(docs)
    # every workload, the hooks and the helm-test pod
    assert {"Deployment/registro-api", "Deployment/registro-worker", "Deployment/registro-operator",
            "StatefulSet/registro-redis", "StatefulSet/registro-postgresql",
            "Deployment/registro-flower", "Deployment/registro-legacy-demo",
            "Job/registro-uninstall",
            "Pod/registro-test-api-health"} <= set(pods), sorted(pods)
    for name, pod in pods.items():
        spec, meta = pod["spec"], pod["metadata"]
        assert spec["imagePullSecrets"] == [{"name": "regcred"}], name
        assert meta["labels"]["team"] == "ops", name
        assert meta["annotations"]["owner"] == "ops", name
        component = meta["labels"]["app.kubernetes.io/component"]
        if component in components:
            expected = "registro-batch" if component == "worker" else "registro-high"
            assert spec["priorityClassName"] == expected, name
            (tsc,) = spec["topologySpreadConstraints"]
            assert tsc["topologyKey"] == "topology.kubernetes.io/zone", name
            # the component's own pods, filled in when the constraint names none
            assert tsc["labelSelector"]["matchLabels"][
                "app.kubernetes.io/component"] == component, name
    for name in ("Deployment/registro-api", "Deployment/registro-worker",
                 "Deployment/registro-operator"):
        spec = pods[name]["spec"]
        main = spec["containers"][0]
        assert {"configMapRef": {"name": "proxy-env"}} in main["envFrom"], name
        mounts = {m["mountPath"]: m for m in main["volumeMounts"]}
        assert "/extra" in mounts and "/etc/registro-ca" in mounts, name
        env = {e["name"]: e.get("value") for e in main["env"]}
        assert env["SSL_CERT_FILE"] == "/etc/registro-ca/ca.crt", name
        assert env["PGSSLROOTCERT"] == "/etc/registro-ca/ca.crt", name
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["ca-bundle"]["configMap"]["name"] == "corp-ca", name
        assert "extra" in volumes, name


def test_ingress_never_publishes_metrics(helm):
    docs = documents(helm_template(helm, "--set", "api.ingress.enabled=true"))
    ingress = by_name(docs, "Ingress", "-api")
    paths = [p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]]
    assert paths == ["/api", "/docs", "/openapi.json"]
    assert all(not "/metrics".startswith(p) for p in paths)


def test_api_shutdown_outlasts_a_fallback_scrape(helm):
    docs = documents(helm_template(helm))
    spec = by_name(docs, "Deployment", "-api")["spec"]["template"]["spec"]
    api = spec["containers"][0]
    graceful = int(next(a for a in api["args"] if a.startswith("--timeout-graceful-shutdown="))
                   .split("=")[1])
    assert api["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert graceful >= 120  # a fallback scrape: login, search and reads, 20 s page timeout each
    assert spec["terminationGracePeriodSeconds"] > 5 + graceful


def test_api_keeps_idle_connections_longer_than_the_proxies_in_front(helm):
    """uvicorn's default (5 s) closes idle connections before an ingress or load balancer
    (60 s idle timeouts by default) does: a request sent on one as it closes fails."""
    for args, want in (((), 75), (("--set", "api.keepAliveSeconds=120"), 120)):
        docs = documents(helm_template(helm, *args))
        api = by_name(docs, "Deployment", "-api")["spec"]["template"]["spec"]["containers"][0]
        assert f"--timeout-keep-alive={want}" in api["args"], api["args"]


def test_chart_values_table_lists_new_knobs():
    readme = (CHART / "README.md").read_text()
    for knob in ("gitops", "priorityClassName", "caBundle.configMap", "redis.auth.password",
                 "browser.maxSessions", "worker.brokerVisibilityTimeoutSeconds"):
        assert f"| `{knob}` |" in readme, knob
    assert kinds  # re-exported helper in use by the sibling module


def test_api_autoscaling_renders_an_hpa_and_leaves_the_replicas_to_it(helm):
    assert "HorizontalPodAutoscaler" not in kinds(documents(helm_template(helm)))
    docs = documents(helm_template(helm, "--set", "api.autoscaling.enabled=true",
                                   "--set", "api.autoscaling.targetMemoryUtilizationPercentage=80"))
    hpa = by_name(docs, "HorizontalPodAutoscaler", "-api")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "registro-api"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 6)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
               for m in hpa["spec"]["metrics"]}
    assert targets == {"cpu": 70, "memory": 80}
    assert "replicas" not in by_name(docs, "Deployment", "-api")["spec"]
    assert "minReplicas must be <=" in _fails(
        helm, "--set", "api.autoscaling.enabled=true", "--set", "api.autoscaling.minReplicas=7")


def test_checksum_of_generated_secrets_matches_the_rendered_secret(helm):
    """Generated secrets (no lookup result at install) are drawn once per render: the
    pods' checksum/secret is the Secret's own, so the first upgrade, which finds the
    Secret by lookup, renders the same checksum and rolls nothing (before, the
    annotation re-rendered new random values: every pod rolled on the first upgrade)."""
    import hashlib

    rendered = helm_template(helm)
    source = next(part for part in rendered.split("---\n")
                  if part.startswith("# Source: registro/templates/secret.yaml"))
    secret_sum = hashlib.sha256(("\n" + source.split("\n", 1)[1]).encode()).hexdigest()
    docs = documents(rendered)
    sums = {d["metadata"]["name"]: d["spec"]["template"]["metadata"]["annotations"][
        "checksum/secret"] for d in docs if d["kind"] == "Deployment"
        and "checksum/secret" in d["spec"]["template"]["metadata"].get("annotations", {})}
    assert set(sums) >= {"registro-api", "registro-worker"}, sums
    assert set(sums.values()) == {secret_sum}, (sums, secret_sum)
