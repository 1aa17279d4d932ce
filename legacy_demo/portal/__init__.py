"""The second demo legacy site, "Portal OS" (see "The second site" in legacy_demo/README.md)."""

from registro.legacy_demo.portal.app import create_app, os_code, serial_in_panel

__all__ = ["create_app", "os_code", "serial_in_panel"]
