"""`registro profile lint`: every error names file, line, column and the fix; parser chains
are checked against the field types; older profiles get the schema change notes."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from registro.schemas import SCHEMA_VERSION
from registro.worker.profile import ProfileError, default_profile_path, load_profile
from registro.worker.profile_check import lint, lint_text
from registro.worker.record import lossless

from .conftest import SITE2

REGISTRO = Path(sys.executable).with_name("registro")
DEMO = default_profile_path().read_text(encoding="utf-8")
TENSAO = 'equipamento.tensao_v: {label: "Tensão"}'
OLD_TENSAO = "equipamento.tensao_v: {label: \"Tensão\", parse: [{regex: '^(\\d+)'}, int]}"


def _write(tmp_path: Path, text: str, name: str = "site.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _where(text: str, line_has: str, column_of: str) -> tuple[int, int]:
    """1-based line of the first line containing ``line_has``, column of ``column_of``."""
    for i, line in enumerate(text.splitlines(), 1):
        if line_has in line:
            return i, line.index(column_of) + 1
    raise AssertionError(line_has)


def _variant(*changes: tuple[str, str]) -> str:
    text = DEMO
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def _lint_cli(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(REGISTRO), "profile", "lint", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


def test_shipped_profiles_declare_the_current_version_and_lint_clean():
    for path in (default_profile_path(), SITE2 / "profile.yaml"):
        report = lint(path)
        assert report.ok and not report.notes, lint_text(report)
        assert report.schema_version == SCHEMA_VERSION
        assert lint_text(report) == f"{path}: OK (schema version {SCHEMA_VERSION})"


def test_yaml_error_names_line_and_column(tmp_path):
    text = _variant(('os.status: {css: "#os-status"}', 'os.status: {css: "#os-status"'))
    path = _write(tmp_path, text)
    result = _lint_cli(path)
    assert result.returncode == 1
    (issue,) = lint(path).errors
    # the flow mapping opened on that line is never closed: PyYAML stops at the next key
    opened = _where(text, 'os.status: {css: "#os-status"', "{")
    assert issue.line == opened[0] + 1 and issue.column is not None
    assert f"{path}:{issue.line}:{issue.column}: error: YAML: " in result.stdout
    assert f"(while parsing a flow mapping started at line {opened[0]}, column {opened[1]})" \
        in result.stdout
    with pytest.raises(ProfileError, match=f"{path}:{issue.line}:{issue.column}: YAML"):
        load_profile(path)


def test_schema_errors_name_line_column_and_what_was_expected(tmp_path):
    text = _variant(
        ('os.status: {css: "#os-status"}', 'os.status: {css: "#os-status", colour: red}'),
        ('cliente.uf: {css:', 'cliente.estado: {css:'),
        ('os.setor: {css: "#srv-setor"}', 'os.setor: {css: "#srv-setor"}\n'
                                          '      os.setor: {css: "#srv-setor-2"}'),
    )
    path = _write(tmp_path, text)
    result = _lint_cli(path)
    assert result.returncode == 1, result.stdout
    out = result.stdout
    line, col = _where(text, "colour: red", "colour")
    assert (f"{path}:{line}:{col}: error: extract.0.fields.os.status.colour: Extra inputs are "
            "not permitted (expected one of: all, attr, below, css, join, label, optional, "
            "parse, scope, value, xpath)") in out
    line, col = _where(text, "cliente.estado", "cliente.estado")
    assert f"{path}:{line}:{col}: error: extract.0.fields.cliente.estado: unknown field " \
           "'cliente.estado'" in out
    line, col = _where(text, "#srv-setor-2", "os.setor")
    assert f"{path}:{line}:{col}: error: extract.2.fields.os.setor: key 'os.setor' written " \
           "twice" in out
    assert "3 error(s), 0 note(s)" in out


def test_missing_required_field_and_section(tmp_path):
    text = _variant(("      cliente.cnpj: {label", "      cliente.cnpj_x: {label"))
    text = text.replace("logged_out:", "logged_outt:", 1)
    report = lint(_write(tmp_path, text))
    msgs = {i.where: (i.line, i.message) for i in report.errors}
    assert msgs["logged_out"][1] == "Field required (a key 'logged_out')"
    assert msgs["logged_outt"][1].startswith("Extra inputs are not permitted")
    assert msgs["logged_outt"][0] == _where(text, "logged_outt:", "l")[0]


def test_parser_chain_must_yield_the_field_type(tmp_path):
    """The issue's case: a profile written when tensao_v was an int fails at load, with
    the line, the column of the `int` and the fix, and the schema note says why."""
    text = _variant((TENSAO, OLD_TENSAO), ("schema_version: 2", "schema_version: 1"))
    path = _write(tmp_path, text)
    result = _lint_cli(path)
    assert result.returncode == 1
    line, col = _where(text, "equipamento.tensao_v", "int]")
    assert (f"{path}:{line}:{col}: error: extract.1.fields.equipamento.tensao_v.parse.1: the "
            "parser chain yields int, but equipamento.tensao_v is text\n"
            "    fix: parse: [voltages] (or no `parse`: `voltages` is the field's default)"
            ) in result.stdout
    key_col = _where(text, "equipamento.tensao_v", "equipamento.tensao_v")[1]
    assert (f"{path}:{line}:{key_col}: note: extract.1.fields.equipamento.tensao_v: schema v2:"
            " equipamento.tensao_v became text") in result.stdout
    assert "written for schema version 1, current 2" in result.stdout
    with pytest.raises(ProfileError) as err:  # the worker refuses it at start, not per read
        load_profile(path)
    assert f"{path}:{line}:{col}:" in str(err.value)


@pytest.mark.parametrize("field, parse, message, fix", [
    ("os.nota_fiscal", "[int]", "yields int, but os.nota_fiscal is text", "parse: [text]"),
    ("os.garantia_dias", "[{regex: '(\\d+)'}]", "yields text, but os.garantia_dias is int",
     "parse: [{regex: (\\d+)}, int]"),
    ("os.data_abertura", "[decimal]", "yields decimal, but os.data_abertura is date",
     "parse: [date]"),
    ("os.prioridade", "[{map: {Normal: 2020-01-01}}]",
     "the `map` gives date values, but os.prioridade is text",
     "parse: [{map: {Normal: 2020-01-01}}, text]"),
])
def test_chain_type_errors_and_fixes(tmp_path, field, parse, message, fix):
    old = next(line for line in DEMO.splitlines() if line.strip().startswith(field + ":"))
    end = old.rindex("}")
    new = old[:end] + f", parse: {parse}" + old[end:]
    report = lint(_write(tmp_path, _variant((old, new))))
    (issue,) = report.errors
    assert message in issue.message and issue.fix == fix
    assert issue.line == _where(_variant((old, new)), field, field)[0]


def test_map_to_numbers_on_a_text_field_is_accepted(tmp_path):
    """YAML reads `{map: {Normal: 2}}` as a number; it converts to text without loss."""
    text = _variant(('os.prioridade: {css: "#os-prioridade"}',
                     'os.prioridade: {css: "#os-prioridade", parse: [{map: {Normal: 2}}]}'))
    assert lint(_write(tmp_path, text)).ok


def test_schema_version_notes_and_bounds(tmp_path):
    undeclared = _write(tmp_path, _variant(("schema_version: 2", "")), "old.yaml")
    report = lint(undeclared)
    assert report.ok and report.schema_version is None
    (note,) = report.notes
    assert note.where == "extract.1.fields.equipamento.tensao_v"
    assert note.line == _where(undeclared.read_text(encoding="utf-8"), TENSAO, "e")[0]
    assert note.fix == "check the field, then declare `schema_version: 2`"
    assert "no schema_version: read as version 1" in lint_text(report)
    assert load_profile(undeclared).schema_version == 1  # still loads: a note, no error
    future = lint(_write(tmp_path, _variant(("schema_version: 2", "schema_version: 9")),
                         "new.yaml"))
    (err,) = future.errors
    assert err.where == "schema_version" and "knows schema versions 1 to 2" in err.message


def test_lossless_conversion_is_int_to_text_only():
    assert lossless(380, str) == "380"
    assert lossless(True, str) is True  # a YAML `yes` is no text
    assert lossless(Decimal("7.5"), str) == Decimal("7.5")  # left to the schema to refuse
    assert lossless(2, int) == 2
