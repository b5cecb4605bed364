"""`python -m churnlab.reports` reports problems as `churnlab <stage>` does: one line per
problem, each prefixed, exit 2; config warnings one line each."""

from __future__ import annotations

from churnlab.reports.__main__ import main


def test_every_problem_is_its_own_prefixed_line_and_exit_2(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("reports:\n  languagee: en\n", encoding="utf-8")
    assert main(["--params", str(params), "list"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) >= 3  # the warning and at least two missing sections
    assert all(line.startswith("churnlab reports: ") for line in lines)
    assert any("warning:" in line and "languagee" in line for line in lines)
    assert any("base: missing" in line for line in lines)
    assert not any(line.startswith(("Traceback", "  ")) for line in lines)


def test_missing_params_file_is_one_line(tmp_path, capsys):
    assert main(["--params", str(tmp_path / "nope.yaml"), "list"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("churnlab reports: ")
