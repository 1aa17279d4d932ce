"""worker/README.md's "Onboard your legacy system", run as written against the second demo
site: start it, copy a profile, lint, check, break a label and see the check name the
field and keep evidence, fix it, check again, then the install command.

Two substitutions, both visible below: the site's port 8090 becomes a free port (tests
run in parallel), and `helm install` becomes `helm template` with the same arguments (no
cluster in this tier; tests/cluster installs the chart on real pods)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from devstack.processes import free_port, wait_for_port
from tests.conftest import require
from tests.support.release import helm_binary

REPO = Path(__file__).resolve().parents[2]
README = REPO / "worker" / "README.md"


def walkthrough_blocks() -> list[str]:
    text = README.read_text()
    section = text.split("## Onboard your legacy system", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, re.S)


def test_the_readme_has_the_walkthrough_steps():
    blocks = walkthrough_blocks()
    assert len(blocks) == 5, blocks
    joined = "\n".join(blocks)
    for step in ("registro demo --site portal", "registro profile lint",
                 "registro profile check", "--evidence", "helm install"):
        assert step in joined, step


@pytest.mark.usefixtures("browser_available")
def test_onboarding_walkthrough_as_written(tmp_path):
    helm = helm_binary()
    require(helm is not None, "helm (scripts/build-helm.sh)")
    port = str(free_port())
    for name in (".venv", "worker", "charts"):
        (tmp_path / name).symlink_to(REPO / name)
    start, *rest = [b.replace("8090", port) for b in walkthrough_blocks()]
    rest = [re.sub(r"^helm install ", f"{helm} template ", b, flags=re.M) for b in rest]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRO_")}
    site = subprocess.Popen(["bash", "-euo", "pipefail", "-c", start], cwd=tmp_path, env=env,
                            start_new_session=True)
    try:
        wait_for_port(int(port), timeout=60)
        assert site.wait(30) == 0
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", "\n".join(rest)], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=600,
                             check=False)
    finally:
        os.killpg(site.pid, signal.SIGTERM)
    out = run.stdout
    assert run.returncode == 0, (out[-4000:], run.stderr[-4000:])
    assert "OK (schema version 2)" in out
    assert re.search(r"OS 1: OK", out) and re.search(r"OS 12345: OK", out), out[-4000:]
    # the broken label: the check named the required field, failed, kept the evidence
    assert "check failed: see the table" in out
    assert re.search(r"cliente\.cnpj \*.*no element matched", out), out[-6000:]
    assert (tmp_path / "evidence" / "1" / "screenshot.png").stat().st_size > 1000
    assert (tmp_path / "evidence" / "1" / "page.html").is_file()
    # the install renders the profile as written, linted by an init container
    profile = (tmp_path / "my-site.yaml").read_text()
    assert 'label: "CNPJ"' in profile  # fixed again
    assert "name: portal" in out, out[-3000:]
    assert '["registro", "profile", "lint", "/etc/registro/site-profile.yaml"]' in out
