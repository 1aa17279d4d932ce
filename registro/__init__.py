"""Registro: shared domain code (settings, records, the task contract).

The deployable parts are installed as subpackages: ``registro.api`` (``api/``),
``registro.worker`` (``worker/``), ``registro.operator`` (``operator/``) and
``registro.legacy_demo`` (``legacy_demo/``).
"""

__version__ = "0.1.0"
