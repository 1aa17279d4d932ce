"""``python -m registro.legacy_demo --port 8080 [--site portal]``: serve a demo legacy site.

Flags override ``REGISTRO_DEMO_*`` environment variables. The admin token (for the
``/_demo`` API) is printed on stderr when it was not configured.
"""

from __future__ import annotations

import argparse
import os
import sys

from registro.legacy_demo.app import serve
from registro.legacy_demo.config import DemoConfig
from registro.legacy_demo.sites import DEFAULT_SITE, SITES


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m registro.legacy_demo",
                                description="Serve the demo legacy ERP that Registro scrapes.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--site", choices=SITES, default=DEFAULT_SITE,
                   help="which demo site: sgo (default) or portal (the second site)")
    p.add_argument("--render-delay-ms", type=int, help="delay before the OS page shows values")
    p.add_argument("--latency-ms", type=int, help="added delay on every request")
    p.add_argument("--error-rate", type=float, help="fraction of requests answered with 500")
    p.add_argument("--error-seed", type=int, help="seed of the error-rate draws")
    p.add_argument("--fail-next", type=int, help="answer the next N requests with 500")
    p.add_argument("--fail-path", action="append", dest="fail_paths", metavar="PREFIX",
                   help="path prefix always answered with 500 (repeatable)")
    p.add_argument("--slow-os-ms", type=int, help="extra delay on the OS page and its data")
    p.add_argument("--session-ttl-s", type=float, help="sessions expire after this many seconds")
    p.add_argument("--session-max-requests", type=int,
                   help="sessions expire after this many authenticated requests")
    p.add_argument("--login-fails", action="store_true", default=None,
                   help="reject every login")
    return p


def main(argv: list[str] | None = None) -> None:
    args = vars(_parser().parse_args(argv))
    host, port, site = args.pop("host"), args.pop("port"), args.pop("site")
    config = DemoConfig(**{k: v for k, v in args.items() if v is not None})
    if "REGISTRO_DEMO_ADMIN_TOKEN" not in os.environ:
        print(f"demo admin token: {config.admin_token.get_secret_value()}", file=sys.stderr)
    print(f"demo legacy site {site} on http://{host}:{port}/ (login {config.username})",
          file=sys.stderr)
    serve(host, port, config, site)


if __name__ == "__main__":
    main()
