"""Failure evidence bundles on the demo site: their size (HTML raw and gzip'd, PNG,
stored, captured) and what keeping one costs the failure path.

    .venv/bin/python benchmarks/bench_evidence.py

Starts the demo legacy system and, with one reused browser session as a worker does,
provokes one failure of each kind on a fresh SQLite database: not_found (the search
page), http_error (the OS page whose data answers 500), timeout (the OS page too slow),
profile_mismatch (a field renamed on the OS page, its frame included) and login_failed
(the login page); then a second not_found of the same OS (the first bundle is reused:
nothing captured). For each it prints the sizes and the time of the failed scrape with
and without keeping its evidence (``Scraper(..., evidence=...)``).
"""

from __future__ import annotations

import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

from devstack.stack import Demo
from registro import evidence, evidence_store
from registro.db import upgrade
from registro.errors import ScrapeError
from registro.evidence_store import DatabaseEvidence, Kept
from registro.settings import Settings
from registro.worker.profile import load_profile
from registro.worker.record import RecordBuilder
from registro.worker.scraper import Scraper

PROFILE = Path(__file__).parents[1] / "worker" / "profiles" / "demo.yaml"


class NoEvidence:
    def known(self, numero_os: str, reason: str) -> Kept | None:
        return Kept()

    def keep(self, bundle: evidence.Bundle) -> Kept:
        return Kept()


def renamed_field_profile(work: Path) -> Path:
    data = yaml.safe_load(PROFILE.read_text(encoding="utf-8"))
    data["extract"][1]["fields"]["equipamento.carcaca"] = {"label": "Carcaça (renomeada)"}
    path = work / "renamed.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    demo = Demo(work)
    admin = demo.admin
    port = demo.port
    try:
        db_url = f"sqlite:///{work}/registro.db"
        upgrade(db_url)
        settings = Settings(legacy_url=f"http://127.0.0.1:{port}", legacy_username="demo",
                            legacy_password="demo", selenium_url=None, page_timeout_s=3,
                            database_url=db_url)
        store = DatabaseEvidence.from_settings(settings)
        cases = [("not_found", "97", {}, None), ("http_error", "1", {"fail_paths": ["/api/os/"]}, None),
                 ("timeout", "2", {"slow_os_ms": 5000}, None),
                 ("profile_mismatch", "3", {}, renamed_field_profile(work)),
                 ("login_failed", "4", {"login_fails": True}, None),
                 ("not_found again", "97", {}, None)]
        print(f"{'failure':18} {'html raw':>9} {'html gz':>8} {'png':>8} {'stored':>8} "
              f"{'captured':>9} {'fail s':>7} {'+evidence s':>11}")
        for label, numero, faults, profile_path in cases:
            profile = load_profile(profile_path) if profile_path else None
            timings = {}
            for mode, sink in (("bare", NoEvidence()), ("kept", store)):
                admin.post("/_demo/reset").raise_for_status()
                with Scraper(settings, evidence=sink) as scraper:
                    scraper.scrape("5")  # logged in, session warm: as in a worker
                    admin.post("/_demo/faults", json=faults).raise_for_status()
                    if faults.get("login_fails"):
                        admin.post("/_demo/sessions/expire").raise_for_status()
                    if profile is not None:
                        scraper.profile = scraper.flow.profile = profile
                        scraper.records = RecordBuilder(profile)
                    started = time.perf_counter()
                    try:
                        scraper.scrape(numero)
                    except ScrapeError as exc:
                        timings[mode] = time.perf_counter() - started
                        error = exc
            admin.post("/_demo/reset").raise_for_status()
            meta = evidence_store.read_metadata(db_url, error.evidence_id)
            _, html = evidence_store.read_part(db_url, error.evidence_id, evidence.PAGE)
            _, png = evidence_store.read_part(db_url, error.evidence_id, evidence.SCREENSHOT)
            html_gz = len(gzip.compress(html or b"", 6, mtime=0))
            print(f"{label:18} {len(html or b''):9,} {html_gz:8,} {len(png or b''):8,} "
                  f"{meta['bytes_armazenados']:8,} {meta['bytes_capturados']:9,} "
                  f"{timings['bare']:7.2f} {timings['kept']:11.2f}")
        return 0
    finally:
        demo.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
