"""The demo legacy sites, by name: the same OS data, two differently built systems.

- ``sgo``: the first demo (``legacy_demo/app.py``), scraped with ``worker/profiles/demo.yaml``;
- ``portal``: the second (``legacy_demo/portal/``), scraped with ``worker/profiles/portal.yaml``.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from registro.legacy_demo.config import DemoConfig

SITES = ("sgo", "portal")
DEFAULT_SITE = "sgo"


def _factory(site: str) -> Callable[[DemoConfig], FastAPI]:
    if site == "sgo":
        from registro.legacy_demo.app import create_app
        return create_app
    if site == "portal":
        from registro.legacy_demo.portal.app import create_app as create_portal
        return create_portal
    raise ValueError(f"unknown demo site {site!r}; known: {', '.join(SITES)}")


def create_site_app(site: str, config: DemoConfig | None = None) -> FastAPI:
    """The ASGI app of one demo site."""
    return _factory(site)(config or DemoConfig())
