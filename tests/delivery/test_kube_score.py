"""The chart against a third-party scanner: kube-score on every tested value set.

Every CRITICAL and WARNING is either fixed in the chart or listed in the table
"Scanner findings we accept" of charts/registro/README.md (the single source: this
test reads it), switched off there either with kube-score's `--ignore-test` or with a
`kube-score/ignore` annotation on the object. The test fails naming any finding that
is not in the table, any `kube-score/ignore` annotation the table does not explain, and
any table row that no longer matches a finding (so the table cannot go stale)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from functools import cache

import pytest

from tests.conftest import require
from tests.delivery.conftest import CHART, REPO, documents, helm_template
from tests.delivery.test_chart import VALUE_SETS

README = CHART / "README.md"
TABLE_HEADING = "### Scanner findings we accept"
ANNOTATION = "kube-score/ignore"
# The chart's minimum Kubernetes (Chart.yaml kubeVersion): deprecated APIs are judged for it.
KUBERNETES_VERSION = "v1.29"
CRITICAL, WARNING = 1, 5  # kube-score grades; 7 (almost OK) and 10 (OK) pass


@dataclass(frozen=True)
class Accepted:
    check: str
    scope: str  # "all value sets", "value set `<name>`" or "`<Kind>/<name>`"
    mechanism: str  # "--ignore-test" or "annotation"
    reason: str

    def applies_to_value_set(self, value_set: str) -> bool:
        return self.scope == "all value sets" or self.scope == f"value set `{value_set}`"

    @property
    def obj(self) -> str | None:
        """Kind/name of the object an annotation row is about (release "registro")."""
        m = re.fullmatch(r"`([A-Za-z]+/[-a-z0-9]+)`", self.scope)
        return m.group(1) if m else None


def accepted_findings() -> list[Accepted]:
    """The README table: | Check | Scope | Mechanism | Reason |."""
    text = README.read_text()
    assert TABLE_HEADING in text, f"{README} lacks the section {TABLE_HEADING!r}"
    rows = []
    lines = text.split(TABLE_HEADING, 1)[1].splitlines()
    in_table = False
    for line in lines:
        if line.startswith("|"):
            in_table = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] in ("Check", "") or set(cells[0]) <= {"-", " "}:
                continue
            assert len(cells) == 4, f"table row must have 4 cells: {line}"
            check, scope, mechanism, reason = cells
            check = check.strip("`")
            mechanism = {"`--ignore-test`": "--ignore-test",
                         f"`{ANNOTATION}` annotation": "annotation"}.get(mechanism, mechanism)
            assert mechanism in ("--ignore-test", "annotation"), f"unknown mechanism: {line}"
            assert reason and len(reason) > 20, f"every accepted finding needs a reason: {line}"
            row = Accepted(check, scope, mechanism, reason)
            if mechanism == "annotation":
                assert row.obj, f"an annotation row names one object as `Kind/name`: {line}"
            else:
                assert scope == "all value sets" or scope.startswith("value set `"), line
            rows.append(row)
        elif in_table:
            break
    assert rows, "the accepted-findings table is empty"
    return rows


@pytest.fixture(scope="session")
def kube_score() -> str:
    proc = subprocess.run([str(REPO / "scripts" / "build-kube-score.sh")], capture_output=True,
                          text=True, timeout=1800, check=False)
    require(proc.returncode == 0,
            f"kube-score (scripts/build-kube-score.sh failed: {proc.stderr[-2000:]})")
    return proc.stdout.strip().splitlines()[-1]


@cache
def rendered(helm: str, value_set: str) -> str:
    # Release "registro" in namespace "registro", tests (the helm test pod) included.
    return helm_template(helm, *VALUE_SETS[value_set])


def score(kube_score: str, manifest: str, *flags: str) -> list[tuple[str, str, str, int]]:
    """(Kind/name, check id, comment, grade) of every CRITICAL and WARNING."""
    proc = subprocess.run(
        [kube_score, "score", "-o", "json", "--kubernetes-version", KUBERNETES_VERSION,
         *flags, "-"], input=manifest, capture_output=True, text=True, timeout=120,
        check=False)
    assert proc.returncode in (0, 1), proc.stderr  # 1 = findings
    found = []
    for obj in json.loads(proc.stdout):
        kind_name = f"{obj['type_meta']['kind']}/{obj['object_meta']['name']}"
        for c in obj["checks"]:
            if c["skipped"] or c["grade"] > WARNING:
                continue
            comments = "; ".join(
                (f"({x['path']}) " if x.get("path") else "") + x["summary"]
                for x in c.get("comments") or []) or c["check"]["name"]
            found.append((kind_name, c["check"]["id"], comments, c["grade"]))
    return found


def ignore_flags(value_set: str) -> list[str]:
    flags = []
    for row in accepted_findings():
        if row.mechanism == "--ignore-test" and row.applies_to_value_set(value_set):
            flags += ["--ignore-test", row.check]
    return flags


@pytest.mark.parametrize("value_set", list(VALUE_SETS))
def test_no_unexplained_kube_score_finding(helm, kube_score, value_set):
    findings = score(kube_score, rendered(helm, value_set), *ignore_flags(value_set))
    unexplained = [
        f"{'CRITICAL' if grade == CRITICAL else 'WARNING'} {obj} {check}: {comment}"
        for obj, check, comment, grade in findings]
    assert not unexplained, (
        f"value set {value_set!r}: kube-score findings neither fixed nor listed in "
        f"{README.relative_to(REPO)} '{TABLE_HEADING[4:]}':\n  " + "\n  ".join(unexplained))


def test_every_ignore_annotation_is_explained_and_every_row_is_needed(helm, kube_score):
    rows = accepted_findings()
    by_annotation = {(r.obj, r.check) for r in rows if r.mechanism == "annotation"}
    annotated: set[tuple[str, str]] = set()
    fired: set[Accepted] = set()
    for value_set in VALUE_SETS:
        manifest = rendered(helm, value_set)
        for d in documents(manifest):
            for meta in (d["metadata"], d.get("spec", {}).get("template", {}).get("metadata", {})):
                for check in filter(None, (meta.get("annotations") or {}).get(ANNOTATION, "")
                                    .replace(" ", "").split(",")):
                    annotated.add((f"{d['kind']}/{d['metadata']['name']}", check))
        # What kube-score says with every accepted finding switched back on.
        raw = score(kube_score, manifest, "--disable-ignore-checks-annotations")
        for row in rows:
            if row.mechanism == "annotation":
                hit = any(obj == row.obj and check == row.check for obj, check, _, _ in raw)
            else:
                hit = row.applies_to_value_set(value_set) and any(
                    check == row.check for _, check, _, _ in raw)
            if hit:
                fired.add(row)
    unexplained = sorted(annotated - by_annotation)
    assert not unexplained, f"kube-score/ignore annotations without a README row: {unexplained}"
    not_rendered = sorted(by_annotation - annotated)
    assert not not_rendered, f"README rows whose annotation no value set renders: {not_rendered}"
    stale = [f"{r.check} ({r.scope})" for r in rows if r not in fired]
    assert not stale, f"accepted findings kube-score no longer reports (remove them): {stale}"


def test_ignoring_is_not_blanket():
    """Per-object reasons use annotations; --ignore-test only for chart-wide opinions
    or a value set that opts out of a feature, never for the checks this chart fixed."""
    fixed = {"statefulset-has-servicename", "pod-probes-identical", "pod-probes",
             "container-security-context-user-group-id",
             "container-security-context-readonlyrootfilesystem",
             "container-ephemeral-storage-request-and-limit", "container-resources"}
    wide = [r.check for r in accepted_findings() if r.check in fixed]
    assert not wide, f"these checks must be fixed, not accepted: {wide}"


def test_counts_table_has_a_row_for_every_value_set():
    text = README.read_text()
    table = text[text.index("| Value set | Before issue 14 |"):text.index(TABLE_HEADING)]
    listed = {line.split("|")[1].strip().strip("`") for line in table.splitlines()
              if line.startswith("| `")}
    assert listed == set(VALUE_SETS), (sorted(set(VALUE_SETS) - listed), sorted(listed))
