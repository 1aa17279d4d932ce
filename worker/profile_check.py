"""``registro profile lint`` and ``registro profile check``: a site profile validated on its
own (no browser), and tried on a live site OS by OS.

``lint(path)``: every problem with file, line, column and the fix, and the notes of the
schema changes newer than the profile's ``schema_version``.

``check(...)``: the worker's engine (``Scraper``: one browser session, one login, reused
for every OS) with a ``Trace`` per OS: for each schema field its value or why it is
empty, the locators that matched, each flow step's time, and the ``Reason`` of a failure.
``--evidence DIR`` keeps, per failed OS, the screenshot, the page's HTML, the step log and
the page's URL and title.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from registro.errors import Reason, ScrapeError
from registro.schemas import ALL_FIELDS, SCHEMA_VERSION
from registro.settings import Settings
from registro.worker import parsers
from registro.worker.profile import (
    REQUIRED_FIELDS,
    Issue,
    ProfileError,
    SiteProfile,
    load_profile,
    locate,
    parse_profile,
    read_source,
    schema_notes,
)
from registro.worker.record import RecordBuilder
from registro.worker.trace import StepTime, Trace

# --- lint -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LintReport:
    source: str
    errors: list[Issue]
    notes: list[Issue]
    schema_version: int | None  # as declared (None: not declared, read as 1)

    @property
    def ok(self) -> bool:
        return not self.errors


def lint(path: Path) -> LintReport:
    """Validate a profile file without a browser."""
    try:
        data, root = read_source(path)
    except ProfileError as exc:
        return LintReport(str(path), exc.issues or [Issue((), str(exc))], [], None)
    errors: list[Issue] = []
    try:
        parse_profile(data, str(path), root)
    except ProfileError as exc:
        errors = exc.issues
    declared = data.get("schema_version") if isinstance(data, dict) else None
    notes = [locate(n, root) for n in schema_notes(data)]
    return LintReport(str(path), errors, notes,
                      declared if isinstance(declared, int) else None)


def lint_text(report: LintReport) -> str:
    lines = [_prefixed(i, report.source, "error") for i in report.errors]
    lines += [_prefixed(i, report.source, "note") for i in report.notes]
    version = report.schema_version or 1
    written = (f"written for schema version {version}" if report.schema_version
               else "no schema_version: read as version 1")
    summary = (f"{report.source}: {len(report.errors)} error(s), {len(report.notes)} "
               f"note(s); {written}, current {SCHEMA_VERSION}")
    if report.ok and not report.notes:
        summary = f"{report.source}: OK (schema version {version})"
    return "\n".join([*lines, summary])


def _prefixed(issue: Issue, source: str, kind: str) -> str:
    text = issue.render(source)
    if issue.line is None:
        return f"{source}: {kind}: {text}"
    at = f"{source}:{issue.line}:{issue.column}: "
    return f"{at}{kind}: {text.removeprefix(at)}"


# --- check ------------------------------------------------------------------------------

# Field statuses: the value was read, or why it is empty.
OK, EMPTY, NO_MATCH, PARSE_FAILED, INVALID, NOT_READ = (
    "ok", "empty", "no_match", "parse_failed", "invalid", "not_read")


@dataclass(frozen=True)
class FieldReport:
    field: str
    required: bool
    status: str
    value: Any = None
    text: str | None = None  # as read on the page
    matched: tuple[str, ...] = ()
    detail: str = ""


@dataclass
class OSReport:
    numero_os: str
    seconds: float
    steps: list[StepTime]
    fields: list[FieldReport]
    failure: dict[str, Any] | None = None  # reason, transient, message, artifacts
    page: dict[str, str] = field(default_factory=dict)
    evidence: str | None = None

    @property
    def ok(self) -> bool:
        """Read as a worker would store it, with every required field."""
        return self.failure is None and all(f.status == OK for f in self.fields if f.required)


@dataclass
class CheckReport:
    profile: str
    base_url: str
    reports: list[OSReport]

    @property
    def ok(self) -> bool:
        return bool(self.reports) and all(r.ok for r in self.reports)


def field_reports(profile: SiteProfile, records: RecordBuilder, trace: Trace,
                  failed: bool) -> list[FieldReport]:
    """Each schema field of one traced read, in schema order. When the OS failed after
    some blocks were read, their fields are parsed here as the engine would have."""
    specs = profile.field_specs()
    block_of = {k: b.name for b in profile.extract for k in b.fields}
    out = []
    for key in ALL_FIELDS:
        required = key in REQUIRED_FIELDS
        read = trace.read.get(key)
        if key not in specs:
            out.append(FieldReport(key, required, EMPTY, detail="not in the profile"))
        elif read is None:
            out.append(FieldReport(key, required, NOT_READ, detail=(
                f"not read: the OS failed before block {block_of[key]!r}" if failed
                else "not read")))
        elif not read.found:
            optional = " (optional)" if specs[key].optional else ""
            out.append(FieldReport(key, required, NO_MATCH, text=read.text or None,
                                   matched=read.matched,
                                   detail=f"no element matched{optional}: "
                                          + ", ".join(read.missing)))
        else:
            out.append(_parsed(key, required, read.text, read.matched, records, trace))
    return out


def _parsed(key: str, required: bool, text: str, matched: tuple[str, ...],
            records: RecordBuilder, trace: Trace) -> FieldReport:
    base = FieldReport(key, required, OK, text=text, matched=matched)
    if key in trace.problems and key not in trace.values:
        return _with(base, PARSE_FAILED, detail=f"parse failed: {trace.problems[key]}")
    if key in trace.values:
        value = trace.values[key]
    else:  # read, but the OS failed before the parsing: parse it as the engine would
        try:
            value = records.value(key, text)
        except (parsers.ParseError, ValueError, TypeError) as exc:
            return _with(base, PARSE_FAILED, detail=f"parse failed: {exc}")
    if key in trace.problems:
        return _with(base, INVALID, value=value, detail=f"invalid: {trace.problems[key]}")
    if value is None:
        why = (f"the parsers gave no value for {text!r}"
               if not parsers.is_empty(text, records.empty_markers)
               else f"matched but empty ({text!r} is an empty marker)" if text.strip()
               else "matched but empty")
        return _with(base, EMPTY, detail=why)
    return _with(base, OK, value=value)


def _with(report: FieldReport, status: str, **changes: Any) -> FieldReport:
    return FieldReport(**{**asdict(report), "status": status, **changes})


def check_settings(settings: Settings, profile_path: Path, *, url: str | None,
                   username: str | None, password: str | None) -> Settings:
    """The settings of a check: the profile, and the site and user given on the command
    line over the configured ones."""
    update: dict[str, Any] = {"site_profile": profile_path}
    if url:
        update["legacy_url"] = url
    if username:
        update["legacy_username"] = username
    if password is not None:
        update["legacy_password"] = SecretStr(password)
    return settings.model_copy(update=update)


def check(profile_path: Path, numeros: Iterable[str], settings: Settings,
          evidence: Path | None = None) -> CheckReport:
    """Read each OS with the worker's engine, traced. Raises ``ProfileError``."""
    profile = load_profile(profile_path)
    from registro.evidence_store import DirectoryEvidence, NoEvidence
    from registro.worker.scraper import Scraper

    sink = DirectoryEvidence(evidence, per_os=True) if evidence is not None else NoEvidence()
    reports: list[OSReport] = []
    with Scraper(settings, profile, evidence=sink) as scraper:
        login_refused = None
        for numero in dict.fromkeys(numeros):
            if login_refused is not None:  # never retry refused credentials
                reports.append(_skipped(numero, login_refused))
                continue
            trace, error = Trace(), None
            start = time.perf_counter()
            try:
                scraper.scrape(numero, trace=trace)
            except ScrapeError as err:
                error = err
            report = OSReport(numero, time.perf_counter() - start, trace.steps,
                              field_reports(profile, scraper.records, trace, error is not None),
                              page=trace.page)
            if error is not None:
                report.failure = {"reason": error.reason.value, "transient": error.transient,
                                  "message": error.message, "artifacts": error.artifacts}
                if error.reason == Reason.LOGIN_FAILED and not error.transient:
                    login_refused = error
                if evidence is not None:
                    report.evidence = str(write_field_reads(evidence / numero, report))
            reports.append(report)
        base_url = scraper.base_url
    return CheckReport(str(profile_path), base_url, reports)


def _skipped(numero: str, cause: ScrapeError) -> OSReport:
    fields = [FieldReport(k, k in REQUIRED_FIELDS, NOT_READ, detail="not read")
              for k in ALL_FIELDS]
    return OSReport(numero, 0.0, [], fields, {
        "reason": cause.reason.value, "transient": cause.transient,
        "message": "not tried: the site refused the credentials for an earlier OS",
        "artifacts": []})


# --- evidence ---------------------------------------------------------------------------


def write_field_reads(directory: Path, report: OSReport) -> Path:
    """Beside the engine's bundle (``DirectoryEvidence``: evidencia.json with the step log
    and console, screenshot.png, page.html; redacted), ``fields.json``: what the page
    gave for each field up to the failure."""
    directory.mkdir(parents=True, exist_ok=True)
    fields = [_field_json(f) for f in report.fields if f.status != NOT_READ]
    (directory / "fields.json").write_text(
        json.dumps({"fields": fields}, ensure_ascii=False, indent=2, default=str),
        encoding="utf-8")
    return directory


# --- output -----------------------------------------------------------------------------


def _step_json(s: StepTime) -> dict[str, Any]:
    return {"step": s.step, "seconds": round(s.seconds, 4), "ok": s.ok}


def _field_json(f: FieldReport) -> dict[str, Any]:
    return {"field": f.field, "required": f.required, "status": f.status, "value": f.value,
            "text": f.text, "matched": list(f.matched), "detail": f.detail}


def check_json(report: CheckReport) -> str:
    doc = {
        "profile": report.profile, "base_url": report.base_url, "ok": report.ok,
        "os": [{
            "numero_os": r.numero_os, "ok": r.ok, "seconds": round(r.seconds, 3),
            "failure": r.failure, "page": r.page or None, "evidence": r.evidence,
            "steps": [_step_json(s) for s in r.steps],
            "fields": [_field_json(f) for f in r.fields],
        } for r in report.reports],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2, default=str)


def print_check(report: CheckReport, console: Console) -> None:
    """Per OS: the outcome, the failure's classification, each step's time and the
    table of fields (``*``: required)."""
    for r in report.reports:
        filled = sum(f.status == OK for f in r.fields)
        console.print(Text(f"OS {r.numero_os}: {'OK' if r.ok else 'FAILED'} in "
                           f"{r.seconds:.2f} s, {filled}/{len(r.fields)} fields filled",
                           style="bold green" if r.ok else "bold red"))
        if r.failure is not None:
            kind = "transient" if r.failure["transient"] else "permanent"
            console.print(Text(f"  failure: {r.failure['reason']} ({kind}): "
                               f"{r.failure['message']}", style="red"))
            console.print(Text("  (the fields read before the failure are shown parsed)"))
        if r.page:
            console.print(Text(f"  page: {r.page.get('url')} ({r.page.get('title')!r})"))
        for where in [r.evidence] if r.evidence else r.failure["artifacts"] if r.failure \
                else []:
            console.print(Text(f"  evidence: {where}"))
        steps = Table("step", "time", box=box.SIMPLE, show_edge=False)
        for s in r.steps:
            steps.add_row(Text(s.step), Text(f"{s.seconds * 1000:.0f} ms"
                                             + ("" if s.ok else " (failed)")))
        console.print(steps)
        fields = Table("field", "value", "page text (when not the value)", "matched",
                       "why empty / problem", box=box.SIMPLE, show_edge=False)
        for f in r.fields:
            value = "" if f.value is None else str(f.value)
            fields.add_row(Text(f.field + (" *" if f.required else "")),
                           Text(value, overflow="fold"),
                           Text("" if f.text in (None, value) else str(f.text), overflow="fold"),
                           Text(", ".join(f.matched)),
                           Text(f.detail, style="" if f.status == OK else "yellow"))
        console.print(fields)
    good = sum(r.ok for r in report.reports)
    console.print(Text(f"{good}/{len(report.reports)} OS read with every required field "
                       f"(* in the tables); profile {report.profile} on {report.base_url}",
                       style="bold green" if report.ok else "bold red"))
