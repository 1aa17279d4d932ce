"""The demo legacy ERP that Registro scrapes (see README.md in this folder)."""

from registro.legacy_demo.app import create_app, serve
from registro.legacy_demo.config import DemoConfig, Faults

__all__ = ["DemoConfig", "Faults", "create_app", "serve"]
