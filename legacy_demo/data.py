"""Deterministic service orders of the demo legacy system.

Every OS number maps to one fixed record, generated from seeded ``random.Random``
instances, so tests know exactly what the page shows (``display_record``) and
what a correct scraper must return after normalisation (``expected_record``).

Existence rule: an OS exists when its number is written with digits only, without
leading zeros, lies in 1..999999 and is NOT a multiple of 97 (97, 194, ... are
"not found").

Sharing rules (to exercise the records' de-duplication):
- the cliente of OS ``n`` is cliente number ``n % 41``: OS 1, 42, 83, ... share a CNPJ;
- OS ``n`` with ``n % 13 == 0`` and ``n > 41`` is a return visit of the equipment of
  OS ``n - 41`` (same serial number, same cliente).
"""

from __future__ import annotations

import datetime as dt
import random
import re
import unicodedata
from decimal import Decimal
from typing import Any

from registro.schemas import ClienteData, EquipamentoData, OrdemServicoData, ScrapedOS

MAX_OS = 999_999
NOT_FOUND_DIVISOR = 97
CLIENTES = 41
RETURN_VISIT_DIVISOR = 13

# What the page shows for an absent value.
EMPTY = "\u2014"  # em dash

_NUMERO_RE = re.compile(r"[1-9][0-9]{0,5}")


def exists(numero: str) -> bool:
    """True when the demo system has an OS with this number (see module doc)."""
    if not isinstance(numero, str) or not _NUMERO_RE.fullmatch(numero):
        return False
    return int(numero) % NOT_FOUND_DIVISOR != 0


def cliente_key(numero: int) -> int:
    return numero % CLIENTES


def equipamento_key(numero: int) -> int:
    if numero % RETURN_VISIT_DIVISOR == 0 and numero > CLIENTES:
        return numero - CLIENTES
    return numero


# --- Brazilian identifiers ------------------------------------------------------------


def cnpj_check_digits(base12: str) -> str:
    """The two check digits of a CNPJ whose first 12 digits are ``base12``."""
    digits = [int(c) for c in base12]
    for weights in ((5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2), (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)):
        total = sum(d * w for d, w in zip(digits, weights, strict=True))
        rest = total % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return f"{digits[-2]}{digits[-1]}"


def cnpj_is_valid(cnpj: str) -> bool:
    return bool(re.fullmatch(r"\d{14}", cnpj)) and cnpj_check_digits(cnpj[:12]) == cnpj[12:]


# --- Brazilian display formats ----------------------------------------------------------


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def fmt_money(value: Decimal) -> str:
    cents = int((value * 100).to_integral_value())
    return f"R$ {_thousands(cents // 100)},{cents % 100:02d}"


def fmt_decimal(value: Decimal, places: int = 1) -> str:
    text = f"{value:.{places}f}"
    whole, _, frac = text.partition(".")
    return f"{_thousands(int(whole))},{frac}" if frac else _thousands(int(whole))


def fmt_date(value: dt.date) -> str:
    return value.strftime("%d/%m/%Y")


def fmt_cnpj(d: str) -> str:
    return f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}"


def fmt_cep(d: str) -> str:
    return f"{d[:5]}-{d[5:]}"


def fmt_phone(d: str) -> str:
    ddd, rest = d[:2], d[2:]
    return f"({ddd}) {rest[:-4]}-{rest[-4:]}"


def fmt_ie(d: str) -> str:
    return ".".join(d[i : i + 3] for i in range(0, 12, 3))


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "", ascii_text.lower())


# --- vocabulary (Portuguese, with accents) ----------------------------------------------

_RAZAO_PREFIXOS = [
    "Metalúrgica", "Indústria de Papéis", "Têxtil", "Cerâmica", "Laticínios",
    "Usina", "Frigorífico", "Companhia de Águas", "Mineração", "Plásticos",
]
_RAZAO_NOMES = [
    "São João", "Santa Luzia", "Ipê Amarelo", "Paraná", "Irmãos Conceição",
    "Boa Esperança", "Açaí do Norte", "Três Corações", "Vale do Itajaí", "Araucária",
]
_RAZAO_SUFIXOS = ["Ltda.", "S.A.", "Eireli", "Ltda. ME"]
_LOGRADOUROS = [
    "Rua das Palmeiras", "Avenida Getúlio Vargas", "Rua João Pessoa",
    "Rodovia dos Bandeirantes", "Rua Marechal Deodoro", "Avenida São Sebastião",
    "Travessa Brasília", "Alameda Tiradentes", "Rua Conceição", "Avenida Paraná",
]
_COMPLEMENTOS = ["Galpão 3", "Bloco B", "Sala 12", "Fundos", "Km 42"]
_BAIRROS = ["Centro", "Distrito Industrial", "Jardim América", "Vila Operária", "São Cristóvão"]
_CIDADES = [
    ("São Paulo", "SP", "11"), ("Campinas", "SP", "19"), ("Joinville", "SC", "47"),
    ("Curitiba", "PR", "41"), ("Belo Horizonte", "MG", "31"), ("Jaraguá do Sul", "SC", "47"),
    ("Porto Alegre", "RS", "51"), ("Goiânia", "GO", "62"), ("Recife", "PE", "81"),
    ("Maringá", "PR", "44"),
]
_NOMES = ["José", "Antônio", "Márcia", "Conceição", "Luís", "Fábio", "Inês", "Cláudia", "João"]
_SOBRENOMES = [
    "Gonçalves", "Araújo", "Simões", "Assunção", "Magalhães", "Brandão", "Estêvão", "Ribeiro",
]
_CARGOS = [
    "Gerente de Manutenção", "Comprador", "Supervisor Elétrico", "Engenheiro de Manutenção",
    "Técnico de Manutenção",
]
_TIPOS = [
    "Motor de indução trifásico", "Motor monofásico", "Motobomba centrífuga", "Motorredutor",
    "Gerador síncrono",
]
_FABRICANTES = [("WEG", "WG"), ("Siemens", "SI"), ("Voges", "VG"), ("Eberle", "EB"),
                ("Nova Motores", "NM"), ("ABB", "AB")]
_LINHAS = ["W22", "W21", "1LE1", "VTOP", "IE3 Premium", "Alto Rendimento"]
_POTENCIAS = ["0.5", "1", "1.5", "2", "3", "5", "7.5", "10", "12.5", "15", "20", "25", "30",
              "40", "50", "60", "75", "100", "125", "150"]
_TENSOES = [127, 220, 380, 440, 660]
_ROTACOES = [850, 1150, 1160, 1750, 1770, 3500, 3540]
_GRAUS = ["IP55", "IP54", "IP56", "IP65", "IP66", "IPW55"]
_CARCACAS = ["71", "80", "90S", "90L", "100L", "112M", "132S", "132M", "160M", "160L", "180M",
             "200L", "225S/M", "250S/M"]
_AREAS = ["BOM", "EXA", "COMP", "MOE", "ESTEIRA", "CALD"]
_STATUS_ABERTOS = ["Aberta", "Em andamento", "Aguardando peças"]
_STATUS_FECHADOS = ["Concluída", "Entregue"]
_PRIORIDADES = ["Baixa", "Normal", "Alta", "Urgente"]
_SETORES = ["Bobinagem", "Usinagem", "Montagem", "Manutenção elétrica", "Balanceamento"]
_DEFEITOS = [
    "Motor não parte e desarma o disjuntor.",
    "Aquecimento excessivo na carcaça após 30 minutos de operação.",
    "Ruído anormal nos rolamentos do lado acoplado.",
    "Vibração elevada; eixo aparentemente empenado.",
    "Queima do enrolamento após queda de tensão na rede.",
    "Baixa isolação medida com megômetro (0,5 MΩ).",
]
_DIAGNOSTICOS = [
    "Enrolamento do estator em curto entre espiras; rebobinagem necessária.",
    "Rolamentos 6309-ZZ desgastados e vedação danificada.",
    "Eixo empenado 0,15 mm; recuperação por usinagem e balanceamento dinâmico.",
    "Umidade no enrolamento; secagem em estufa e aplicação de verniz.",
    "Capacitor de partida em aberto e platinado oxidado.",
]
_SERVICOS = [
    "Rebobinagem completa com fio classe H, impregnação e testes elétricos.",
    "Troca de rolamentos, retentores e pintura externa.",
    "Usinagem do eixo, balanceamento e montagem com ensaio em vazio.",
    "Secagem, envernizamento e medição de isolação (acima de 100 MΩ).",
    "Substituição do capacitor e do centrífugo; teste sob carga.",
]
_OBSERVACOES = [
    "Cliente solicitou laudo técnico junto com a nota fiscal.",
    "Equipamento chegou sem a caixa de ligação e sem a placa de identificação original.",
    "Retirada agendada pela transportadora às 14h; avisar o setor de expedição.",
    "Orçamento aprovado por e-mail pelo responsável de manutenção.",
    "Atenção: peça com garantia anterior, conferir histórico de reparos.",
    "Ensaios realizados conforme NBR 17094; relatório anexado ao prontuário.",
]


# --- the canonical record ---------------------------------------------------------------


def _cliente(key: int) -> ClienteData:
    rng = random.Random(f"cliente:{key}")
    base8 = f"{(key * 2_654_435_761 + 10_000_019) % 10**8:08d}"
    base12 = base8 + "0001"
    cnpj = base12 + cnpj_check_digits(base12)
    nome = rng.choice(_RAZAO_NOMES)
    razao = f"{rng.choice(_RAZAO_PREFIXOS)} {nome} {rng.choice(_RAZAO_SUFIXOS)}"
    cidade, uf, ddd = rng.choice(_CIDADES)
    mobile = rng.random() < 0.5
    telefone = ddd + (f"9{rng.randint(6000, 9999)}{rng.randint(0, 9999):04d}" if mobile
                      else f"{rng.randint(2000, 3999)}{rng.randint(0, 9999):04d}")
    contato = f"{rng.choice(_NOMES)} {rng.choice(_SOBRENOMES)}"
    return ClienteData(
        cnpj=cnpj,
        razao_social=razao,
        nome_fantasia=None if rng.random() < 0.25 else nome,
        inscricao_estadual=None if rng.random() < 0.2 else f"{rng.randint(10**11, 10**12 - 1)}",
        logradouro=rng.choice(_LOGRADOUROS),
        numero=str(rng.randint(1, 4999)),
        complemento=None if rng.random() < 0.4 else rng.choice(_COMPLEMENTOS),
        bairro=rng.choice(_BAIRROS),
        cidade=cidade,
        uf=uf,
        cep=f"{rng.randint(10_000_000, 99_999_999)}",
        telefone=telefone,
        email=f"{rng.choice(['compras', 'manutencao', 'contato'])}@{_slug(nome)}.com.br",
        contato_nome=contato,
        contato_cargo=None if rng.random() < 0.2 else rng.choice(_CARGOS),
    )


def _plate_voltages(key: int, tensao: int) -> str:
    """Dual-voltage motors list both connections on the plate ("220/380 V"): every fifth
    equipment rated 220 or 380 V (OS 1 and 12345 among them), and every equipment of OS
    1 to 9."""
    if (tensao in (220, 380) and key % 5 == 0) or 0 < key < 10:
        return {127: "127/220", 440: "440/760", 660: "380/660"}.get(tensao, "220/380")
    return str(tensao)


def _equipamento(key: int) -> EquipamentoData:
    rng = random.Random(f"equipamento:{key}")
    fabricante, code = rng.choice(_FABRICANTES)
    carcaca = rng.choice(_CARCACAS)
    potencia = Decimal(rng.choice(_POTENCIAS))
    tensao = rng.choice(_TENSOES)
    # I = P / (sqrt(3) * V * efficiency * power factor), rounded like a nameplate.
    corrente = Decimal(f"{float(potencia) * 735.5 / (1.732 * tensao * 0.88 * 0.85):.1f}")
    if corrente == 0:
        corrente = Decimal("0.1")
    return EquipamentoData(
        numero_serie=f"{code}{(key * 7919 + 123_457) % 10**7:07d}",
        tipo=rng.choice(_TIPOS),
        fabricante=fabricante,
        modelo=f"{rng.choice(_LINHAS)} {carcaca}",
        potencia_cv=potencia,
        tensao_v=_plate_voltages(key, tensao),
        corrente_a=corrente,
        rotacao_rpm=rng.choice(_ROTACOES),
        frequencia_hz=50 if rng.random() < 0.1 else 60,
        ano_fabricacao=rng.randint(1995, 2024),
        grau_protecao=rng.choice(_GRAUS),
        carcaca=carcaca,
        peso_kg=None if rng.random() < 0.15 else Decimal(rng.randint(45, 19_000)) / 10,
        tag_identificacao=None if rng.random() < 0.25
        else f"{rng.choice(_AREAS)}-M{rng.randint(1, 999):03d}",
        classe_isolamento=rng.choice(["B", "F", "H"]),
    )


def _ordem(numero: int) -> OrdemServicoData:
    rng = random.Random(numero)
    abertura = dt.date(2019, 1, 2) + dt.timedelta(days=rng.randint(0, 2400))
    fechada = rng.random() < 0.55
    status = rng.choice(_STATUS_FECHADOS if fechada else _STATUS_ABERTOS)
    iniciada = status != "Aberta"
    horas = Decimal(rng.randint(2, 160)) / 2 if iniciada else None
    mao_obra = pecas = total = None
    if iniciada:
        mao_obra = Decimal(rng.randint(15_000, 2_500_000)) / 100
        big = rng.random() < 0.05
        pecas = Decimal(rng.randint(0, 150_000_000 if big else 4_000_000)) / 100
        total = mao_obra + pecas
    observacoes = None
    if rng.random() < 0.7:
        observacoes = " ".join(rng.sample(_OBSERVACOES, rng.randint(2, 3)))
    return OrdemServicoData(
        numero_os=str(numero),
        data_abertura=abertura,
        data_previsao=abertura + dt.timedelta(days=rng.randint(5, 40)),
        data_conclusao=abertura + dt.timedelta(days=rng.randint(3, 60)) if fechada else None,
        status=status,
        prioridade=rng.choice(_PRIORIDADES),
        setor=rng.choice(_SETORES),
        tecnico_responsavel=f"{rng.choice(_NOMES)} {rng.choice(_SOBRENOMES)}",
        defeito_relatado=rng.choice(_DEFEITOS),
        diagnostico=rng.choice(_DIAGNOSTICOS) if iniciada else None,
        servico_executado=rng.choice(_SERVICOS) if fechada else None,
        horas_trabalhadas=horas,
        valor_mao_obra=mao_obra,
        valor_pecas=pecas,
        valor_total=total,
        garantia_dias=rng.choice([90, 180, 365]) if fechada else None,
        nota_fiscal=f"{rng.randint(1, 999_999):06d}" if status == "Entregue" else None,
        observacoes=observacoes,
    )


def _check(numero: str) -> int:
    if not exists(numero):
        raise KeyError(f"OS {numero!r} does not exist in the demo system")
    return int(numero)


def expected_record(numero: str) -> ScrapedOS:
    """The canonical, normalised values a correct scraper returns for this OS."""
    n = _check(numero)
    return ScrapedOS(
        cliente=_cliente(cliente_key(n)),
        equipamento=_equipamento(equipamento_key(n)),
        os=_ordem(n),
    )


def _show(value: Any, fmt=str) -> str:
    return EMPTY if value is None else fmt(value)


def display_record(numero: str) -> dict[str, dict[str, str]]:
    """What the OS page shows, field by field, as text (``EMPTY`` for an absent value).

    Same keys as ``ScrapedOS``; values in Brazilian formats.
    """
    rec = expected_record(numero)
    c, e, o = rec.cliente, rec.equipamento, rec.os
    return {
        "cliente": {
            "cnpj": fmt_cnpj(c.cnpj),
            "razao_social": c.razao_social,
            "nome_fantasia": _show(c.nome_fantasia),
            "inscricao_estadual": _show(c.inscricao_estadual, fmt_ie),
            "logradouro": _show(c.logradouro),
            "numero": _show(c.numero),
            "complemento": _show(c.complemento),
            "bairro": _show(c.bairro),
            "cidade": _show(c.cidade),
            "uf": _show(c.uf),
            "cep": _show(c.cep, fmt_cep),
            "telefone": _show(c.telefone, fmt_phone),
            "email": _show(c.email),
            "contato_nome": _show(c.contato_nome),
            "contato_cargo": _show(c.contato_cargo),
        },
        "equipamento": {
            "numero_serie": e.numero_serie,
            "tipo": _show(e.tipo),
            "fabricante": _show(e.fabricante),
            "modelo": _show(e.modelo),
            "potencia_cv": _show(e.potencia_cv, lambda v: f"{fmt_decimal(v, 1)} cv"),
            "tensao_v": _show(e.tensao_v, lambda v: f"{v} V"),  # "220/380 V"
            "corrente_a": _show(e.corrente_a, lambda v: f"{fmt_decimal(v, 1)} A"),
            "rotacao_rpm": _show(e.rotacao_rpm, lambda v: f"{_thousands(v)} rpm"),
            "frequencia_hz": _show(e.frequencia_hz, lambda v: f"{v} Hz"),
            "ano_fabricacao": _show(e.ano_fabricacao),
            "grau_protecao": _show(e.grau_protecao),
            "carcaca": _show(e.carcaca),
            "peso_kg": _show(e.peso_kg, lambda v: f"{fmt_decimal(v, 1)} kg"),
            "tag_identificacao": _show(e.tag_identificacao),
            "classe_isolamento": _show(e.classe_isolamento),
        },
        "os": {
            "numero_os": o.numero_os,
            "data_abertura": _show(o.data_abertura, fmt_date),
            "data_previsao": _show(o.data_previsao, fmt_date),
            "data_conclusao": _show(o.data_conclusao, fmt_date),
            "status": _show(o.status),
            "prioridade": _show(o.prioridade),
            "setor": _show(o.setor),
            "tecnico_responsavel": _show(o.tecnico_responsavel),
            "defeito_relatado": _show(o.defeito_relatado),
            "diagnostico": _show(o.diagnostico),
            "servico_executado": _show(o.servico_executado),
            "horas_trabalhadas": _show(o.horas_trabalhadas, lambda v: f"{fmt_decimal(v, 1)} h"),
            "valor_mao_obra": _show(o.valor_mao_obra, fmt_money),
            "valor_pecas": _show(o.valor_pecas, fmt_money),
            "valor_total": _show(o.valor_total, fmt_money),
            "garantia_dias": _show(o.garantia_dias, lambda v: f"{v} dias"),
            "nota_fiscal": _show(o.nota_fiscal),
            "observacoes": _show(o.observacoes),
        },
    }


# --- changes over time (the admin API's POST /_demo/os/{numero}) ------------------------

# Every field of the page, by its name, in its section of ``display_record``; the names
# are unique across sections. ``numero_os`` is the record's identity: not changeable.
FIELD_SECTIONS: dict[str, str] = {
    name: section for section, fields in display_record("1").items() for name in fields
    if name != "numero_os"
}


def check_overrides(changes: object) -> dict[str, str]:
    """Field overrides as the page shows them ("R$ 1.234,56", "(11) 3333-4444"; null: the
    absent value). Raises ValueError naming what is wrong."""
    if not isinstance(changes, dict) or not changes:
        raise ValueError("expected a non-empty JSON object of field: value")
    checked: dict[str, str] = {}
    for name, value in changes.items():
        if name not in FIELD_SECTIONS:
            raise ValueError(f"unknown field {name!r}; known: {', '.join(sorted(FIELD_SECTIONS))}")
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name}: expected a string as the page shows it, or null")
        if value is not None and len(value) > 2000:
            raise ValueError(f"{name}: longer than 2000 characters")
        checked[name] = EMPTY if value is None or value.strip() == "" else value
    return checked


def changed_display_record(numero: str, overrides: dict[str, str]) -> dict[str, dict[str, str]]:
    """``display_record`` with the overrides applied, field by field."""
    record = display_record(numero)
    for name, value in overrides.items():
        record[FIELD_SECTIONS[name]][name] = value
    return record
