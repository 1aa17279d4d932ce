"""Scraper benchmark: one reused browser session versus a fresh browser per OS.

    .venv/bin/python benchmarks/bench_scraper.py [--latency-ms 50] [--render-delay-ms 150]
                                                 [--reused 30] [--naive 8]

Runs the demo legacy system (a child process) with a fixed added latency on every
request, then, in the same run:

- reused: one Scraper (one browser, logged in once) scraping ``--reused`` OS numbers;
- naive: a new browser, a new login and a quit for each of ``--naive`` OS numbers;
- site: the legacy site's own time per OS, measured without a browser by replaying
  with an HTTP client the requests on the page's critical path (search page, search,
  OS page, then the longer of its own script + data and its frame's page + script +
  data; scripts only when the browser did not have them cached) plus the page's known
  render delays; and the pages' time as the browser itself measured it;

and prints scrapes/minute, time per OS, the overhead per OS beyond the site's own
time, and the peak memory (PSS, summed over the Chromium and chromedriver processes).

Then, for the demo's iframe block ("dados tecnicos"), it measures what frame-bound
steps cost: the block as the demo profile reads it (a ``frames`` path, no steps), with
native ``frame`` + ``wait`` steps before it, and with the same steps ``in_page``:
WebDriver commands per OS and time per OS, ``--frame-runs`` OS each, one session.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil

from devstack import processes
from devstack.stack import demo_env
from registro.settings import Settings
from registro.worker.profile import SiteProfile, load_profile, parse_profile
from registro.worker.scraper import Scraper

OS_NUMBERS = [str(n) for n in range(1001, 1200) if n % 97]


class MemorySampler(threading.Thread):
    """Peak PSS summed over the Chromium processes under this process (and, apart,
    of chromedriver)."""

    def __init__(self, interval: float = 0.1):
        super().__init__(daemon=True)
        self.interval, self.peak, self.driver_peak = interval, 0, 0
        self._halt = threading.Event()

    def run(self) -> None:
        me = psutil.Process()
        while not self._halt.is_set():
            total = driver = 0
            for p in me.children(recursive=True):
                try:
                    name = p.name().lower()
                    if name == "chromedriver":
                        driver += p.memory_full_info().pss
                    elif "chrom" in name:
                        total += p.memory_full_info().pss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            self.peak = max(self.peak, total)
            self.driver_peak = max(self.driver_peak, driver)
            self._halt.wait(self.interval)

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.peak


def start_demo(latency_ms: int, render_delay_ms: int) -> processes.ManagedProcess:
    return processes.start_demo(env=demo_env(secrets.token_urlsafe(24), latency_ms=latency_ms,
                                              render_delay_ms=render_delay_ms))


def site_time(url: str, numbers: list[str], render_delay_ms: int, cached: set[str]) -> float:
    """The site's own time per OS (seconds): its critical-path requests, replayed over
    HTTP keep-alive without a browser, plus the page's render delays (known). After the
    OS page, its own script + data and its frame's page + script + data load in
    parallel in a browser: the longer of the two paths counts."""
    with httpx.Client(base_url=url, timeout=30) as client:
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        client.post("/login", data={"username": "demo", "password": "demo",
                                    "csrf_token": csrf, "next": "/os/buscar"})
        times = []
        for n in numbers:
            t0 = time.perf_counter()
            client.get("/os/buscar").raise_for_status()
            client.get("/os/buscar", params={"numero": n}, follow_redirects=True
                       ).raise_for_status()
            t1 = time.perf_counter()
            if "os.js" not in cached:
                client.get("/static/os.js").raise_for_status()
            client.get(f"/api/os/{n}").raise_for_status()
            t2 = time.perf_counter()
            client.get(f"/os/{n}/dados-tecnicos").raise_for_status()
            if "dados_tecnicos.js" not in cached:
                client.get("/static/dados_tecnicos.js").raise_for_status()
            client.get(f"/api/os/{n}").raise_for_status()
            t3 = time.perf_counter()
            times.append(t1 - t0 + max(t2 - t1, t3 - t2))
    # os.js renders the data after render_delay_ms, the "Serviço" tab after min(it, 100).
    return statistics.mean(times) + (render_delay_ms + min(render_delay_ms, 100)) / 1000


# Benchmark instrumentation (not part of the engine): installed in every document with
# CDP, it records when the demo's pages are ready as the browser itself sees them.
PAGE_MARKS_JS = r"""
(function () {
  var marks = {};
  window.__benchMarks = marks;
  function check() {
    var b = document.body;
    if (b && b.getAttribute('data-pagina') === 'os' && b.getAttribute('data-carregado') === '1'
        && !marks.data) { marks.data = performance.now(); marks.origin = performance.timeOrigin; }
    var p = document.getElementById('painel-servico');
    if (p && p.getAttribute('data-carregado') === '1' && !marks.servico)
      marks.servico = performance.now();
  }
  new MutationObserver(check).observe(document, {subtree: true, attributes: true,
                                                 childList: true});
  document.addEventListener('click', function (e) {
    if (e.target.closest && e.target.closest('#aba-servico') && !marks.tab)
      marks.tab = performance.now();
  }, true);
  document.addEventListener('DOMContentLoaded', function () {
    if (document.body && document.body.getAttribute('data-pagina') === 'buscar')
      sessionStorage.setItem('benchSearchReady', String(performance.now()));
  });
})();
"""


def instrument(scraper: Scraper) -> None:
    scraper.browser.driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument", {"source": PAGE_MARKS_JS})


def browser_page_time(scraper: Scraper, render_delay_ms: int) -> float:
    """The demo pages' own time in this scrape as the browser measured it (seconds):
    search page until DOMContentLoaded + OS page from navigation start until its data
    and its frame's data are rendered + "Serviço" tab from click until its panel is
    rendered."""
    # the frame renders its data render_delay_ms after its data request ends
    search, marks, frame_data_end = scraper.browser.driver.execute_script(
        "const w = document.getElementById('frame-dados-tecnicos').contentWindow;"
        "const api = w.performance.getEntriesByType('resource')"
        "             .filter(e => e.name.includes('/api/os/'));"
        "return [sessionStorage.getItem('benchSearchReady'), window.__benchMarks,"
        "        w.performance.timeOrigin + api[0].responseEnd];")
    frame_ready = frame_data_end + render_delay_ms - marks["origin"]
    os_page = max(marks["data"], frame_ready)
    return (float(search) + os_page + marks["servico"] - marks["tab"]) / 1000


def count_commands(scraper: Scraper) -> dict:
    """Count the WebDriver commands the engine sends (instrumentation of this run)."""
    driver, counter = scraper.browser.driver, {"n": 0}
    execute = driver.execute

    def counting(command, params=None):
        counter["n"] += 1
        return execute(command, params)

    driver.execute = counting
    return counter


def round_trip_ms(scraper: Scraper, samples: int = 30) -> float:
    """Median cost of one WebDriver round trip right now (a trivial script)."""
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        scraper.browser.driver.execute_script("return 1")
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def cached_scripts(scraper: Scraper) -> set[str]:
    """The page scripts the browser loaded from its cache (no request) on the OS page."""
    sizes = scraper.browser.driver.execute_script("""
        const f = document.getElementById('frame-dados-tecnicos');
        const entries = performance.getEntriesByType('resource').concat(
            f ? f.contentWindow.performance.getEntriesByType('resource') : []);
        return entries.filter(e => e.name.includes('/static/') && e.name.endsWith('.js'))
                      .map(e => [e.name.split('/').pop(), e.transferSize]);""")
    return {name for name, size in sizes if size == 0}


FRAME_BLOCK = "dados tecnicos"


def frame_block_variants() -> dict[str, SiteProfile]:
    """The demo profile with its iframe block read three ways."""
    base = load_profile()
    variants = {"frames path (demo profile)": base}
    for label, in_page in (("native frame + wait steps", False),
                           ("in-page frame + wait steps", True)):
        data = base.model_dump(exclude_none=True)
        block = next(b for b in data["extract"] if b["name"] == FRAME_BLOCK)
        block["before"] = [{"frame": block["frames"][0], "in_page": in_page},
                           {"wait": block.pop("wait"), "in_page": in_page}]
        variants[label] = parse_profile(data, label)
    return variants


def measure_frame_block(settings: Settings, runs: int) -> list[tuple[str, float, float]]:
    """(variant, WebDriver commands per OS, mean seconds per OS), reused session each."""
    rows = []
    numbers = OS_NUMBERS[-runs - 20:-20]
    for label, profile in frame_block_variants().items():
        with Scraper(settings, profile) as scraper:
            scraper.scrape(OS_NUMBERS[0])  # browser start + login
            commands = count_commands(scraper)
            times = []
            for n in numbers:
                t0 = time.perf_counter()
                scraper.scrape(n)
                times.append(time.perf_counter() - t0)
            rows.append((label, commands["n"] / len(numbers), statistics.mean(times)))
    return rows


def run(args) -> None:
    demo = start_demo(args.latency_ms, args.render_delay_ms)
    url = demo.url
    artifacts = Path(tempfile.mkdtemp(prefix="bench-scraper-"))
    settings = Settings(legacy_url=url, legacy_username="demo", legacy_password="demo",
                        site_profile=None, selenium_url=None, artifacts_dir=artifacts,
                        session_max_scrapes=10_000)
    try:
        # --- reused session ----------------------------------------------------
        sampler = MemorySampler()
        sampler.start()
        phases: dict[str, list[float]] = {"login+connect": [], "search": [], "extract": []}
        reused_page = []
        with Scraper(settings) as scraper:
            t0 = time.perf_counter()
            scraper.scrape(OS_NUMBERS[0])  # browser start + login
            first = time.perf_counter() - t0
            instrument(scraper)
            commands = count_commands(scraper)
            reused = []
            for n in OS_NUMBERS[1:args.reused + 1]:
                marks: dict[str, float] = {}
                t0 = time.perf_counter()
                scraper.scrape(n, progress=lambda s, p, m, marks=marks: marks.setdefault(
                    s, time.perf_counter()))
                end = time.perf_counter()
                reused.append(end - t0)
                reused_page.append(browser_page_time(scraper, args.render_delay_ms))
                phases["login+connect"].append(marks["searching"] - t0)
                phases["search"].append(marks["extracting"] - marks["searching"])
                phases["extract"].append(end - marks["extracting"])
            per_os_commands = commands["n"] / len(reused)
            rtt = round_trip_ms(scraper)
            cached = cached_scripts(scraper)
            assert scraper.sessions_started == 1
        reused_peak = sampler.stop()
        driver_peak = sampler.driver_peak

        # --- naive: a fresh browser (and login) for every OS ----------------------
        sampler = MemorySampler()
        sampler.start()
        naive = []
        for n in OS_NUMBERS[-args.naive:]:
            t0 = time.perf_counter()
            with Scraper(settings) as scraper:
                scraper.scrape(n)
            naive.append(time.perf_counter() - t0)
        naive_peak = sampler.stop()

        site = site_time(url, OS_NUMBERS[1:args.reused + 1], args.render_delay_ms, cached)
        frame_rows = measure_frame_block(settings, args.frame_runs) if args.frame_runs else []
    finally:
        demo.stop()

    r_mean, n_mean = statistics.mean(reused), statistics.mean(naive)
    r_over, n_over = r_mean - site, n_mean - site
    page = statistics.mean(reused_page)
    r_over_page = statistics.mean(t - p for t, p in zip(reused, reused_page, strict=True))
    n_over_page = n_mean - page
    mib = 1024 * 1024
    print(f"\nScraper benchmark: demo system with {args.latency_ms} ms added latency per "
          f"request, {args.render_delay_ms} ms render delay\n")
    rows = [
        ("", "reused session", "fresh browser (naive)"),
        ("OS scraped", f"{len(reused)}", f"{len(naive)}"),
        ("scrapes / minute", f"{60 / r_mean:.1f}", f"{60 / n_mean:.1f}"),
        ("time per OS, mean (s)", f"{r_mean:.3f}", f"{n_mean:.3f}"),
        ("time per OS, p50 / max (s)",
         f"{statistics.median(reused):.3f} / {max(reused):.3f}",
         f"{statistics.median(naive):.3f} / {max(naive):.3f}"),
        ("site's own time per OS (s)", f"{site:.3f}", f"{site:.3f}"),
        ("overhead per OS beyond the site (ms)", f"{r_over * 1000:.0f}",
         f"{n_over * 1000:.0f}"),
        ("pages' own time in the browser (s)", f"{page:.3f}", f"{page:.3f}"),
        ("overhead beyond the browser's page time (ms)", f"{r_over_page * 1000:.0f}",
         f"{n_over_page * 1000:.0f}"),
        ("peak Chromium memory, PSS (MiB)", f"{reused_peak / mib:.0f}",
         f"{naive_peak / mib:.0f}"),
    ]
    width = max(len(r[0]) for r in rows)
    for label, a, b in rows:
        print(f"  {label:<{width}}  {a:>16}  {b:>22}")
    print(f"\n  first scrape of the reused session (browser start + login): {first:.3f} s")
    print("  reused-session phases, mean (ms): " + ", ".join(
        f"{k} {statistics.mean(v) * 1000:.0f}" for k, v in phases.items()))
    print(f"  WebDriver commands per OS (reused session): {per_os_commands:.1f}; one round "
          f"trip now costs {rtt:.1f} ms (median) -> ~{per_os_commands * rtt:.0f} ms per OS")
    print(f"  page scripts served from the browser cache: {sorted(cached) or 'none'}")
    print(f"  chromedriver peak PSS (not included above): {driver_peak / mib:.0f} MiB")
    print(f"  machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} "
          "(other processes compete for the CPU: wall-clock figures grow with load)")
    ratio = n_over / r_over if r_over > 0 else float("inf")
    ratio_page = n_over_page / r_over_page if r_over_page > 0 else float("inf")
    print(f"\n  speed-up (scrapes/minute): {n_mean / r_mean:.1f}x;"
          f"  overhead ratio naive/reused: {ratio:.1f}x")
    print(f"  overhead ratio naive/reused beyond the browser's page time: {ratio_page:.1f}x")
    goals = [
        ("reused overhead <= ~100 ms per OS (vs HTTP site time)", r_over <= 0.1),
        ("reused overhead <= ~100 ms per OS (vs browser page time)", r_over_page <= 0.1),
        ("overhead >= 10x smaller than naive (vs browser page time)", ratio_page >= 10),
        ("browser < 500 MiB", reused_peak < 500 * mib),
    ]
    for text, ok in goals:
        print(f"  goal: {text:<58} {'met' if ok else 'NOT met'}")
    if frame_rows:
        print(f"\n  the iframe block ({FRAME_BLOCK!r}), {args.frame_runs} OS each, reused "
              "session:")
        for label, per_os, seconds in frame_rows:
            print(f"    {label:<28} {per_os:5.1f} WebDriver commands per OS, "
                  f"{seconds:.3f} s per OS")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--latency-ms", type=int, default=50)
    p.add_argument("--render-delay-ms", type=int, default=150)
    p.add_argument("--reused", type=int, default=30, help="OS scraped by the reused session")
    p.add_argument("--naive", type=int, default=8, help="OS scraped with a fresh browser each")
    p.add_argument("--frame-runs", type=int, default=10,
                   help="OS per variant of the iframe block (0: skip)")
    run(p.parse_args())


if __name__ == "__main__":
    main()
