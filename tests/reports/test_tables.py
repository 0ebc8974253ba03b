"""CSV outputs: a user's string that a spreadsheet would run as a formula is escaped."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from bayesmin.reports import cli
from bayesmin.reports.tables import csv_text, safe_cell


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("-3", "-3"),  # a plain number written as text: a spreadsheet reads the number
        ("+1e5", "+1e5"),
        ("w[x1]", "w[x1]"),
        ("", ""),
        (-3, -3),
        (-1.5, -1.5),
        (None, None),
    ],
)
def test_safe_cell_escapes_formulas_only(value, written):
    assert safe_cell(value) == written


def test_csv_text_escapes_names_index_and_text_cells_but_not_numbers():
    table = pd.DataFrame(
        {"=name": ["=HYPERLINK(1)", "ok", "-7"], "value": [-1.5, 2.0, -3.0]},
        index=pd.Index(["@run", "b", "c"], name="run"),
    )
    text = csv_text(table)
    assert text.splitlines() == [
        "run,'=name,value",
        "'@run,'=HYPERLINK(1),-1.5",
        "b,ok,2.0",
        "c,-7,-3.0",
    ]
    back = pd.read_csv(io.StringIO(text))
    assert back["value"].tolist() == [-1.5, 2.0, -3.0]  # numbers stay numbers
    assert table.columns[0] == "=name"  # the table itself is left as it was
    assert csv_text(table, index=False).splitlines()[0] == "'=name,value"


def test_fit_outputs_escape_a_users_formula_column_names(tmp_path, capsys):
    data = tmp_path / "formula.csv"
    data.write_text("=HYPERLINK(0),-1,y\n1,2,3.1\n2,1,3.9\n3,5,8.2\n4,4,8.1\n5,0,5.2\n")
    out = tmp_path / "fit"
    code = cli.main(["fit", "linear_regression", "--data", str(data), "--target", "y",
                     "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    features = pd.read_csv(out / "estimates.csv")["feature"].tolist()
    assert features == ["intercept", "'=HYPERLINK(0)", "-1"]  # "-1" as written
    assert "=HYPERLINK" not in (out / "estimates.csv").read_text().replace("'=", "")
