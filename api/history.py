"""The history use case behind GET /api/desenvolvimento/historico/{numero_os}.

No HTTP here (see ``api/lookup.py``): one page of the changes ``save_scraped`` stored for
an OS, newest first; ``UnknownOS`` when the OS is not stored.
"""

from __future__ import annotations

from urllib.parse import urlencode

from registro.api.errors import UnknownOS
from registro.api.schemas import Alteracao, HistoricoOS
from registro.db import session_factory
from registro.records import as_utc, history_page

HISTORY_PATH = "/api/desenvolvimento/historico/{numero_os}"


def history(database_url: str, numero_os: str, limite: int,
            antes_de: int | None) -> HistoricoOS:
    with session_factory(database_url)() as session:
        page = history_page(session, numero_os, limite, antes_de)
        if page is None:
            raise UnknownOS(numero_os)
        changes = [Alteracao(id=c.id, campo=c.campo, valor_anterior=c.valor_anterior,
                             valor_novo=c.valor_novo, observado_em=as_utc(c.observado_em))
                   for c in page.changes]
    next_page = None
    if page.next_before is not None:
        query = urlencode({"limite": limite, "antes_de": page.next_before})
        next_page = f"{HISTORY_PATH.format(numero_os=numero_os)}?{query}"
    return HistoricoOS(numero_os=numero_os, total=page.total, alteracoes=changes,
                       proxima_pagina=next_page)
