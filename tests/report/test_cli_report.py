"""``sonomtl report``: writes the file, exit 0; bad folders exit 2 with one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonomtl.cli import main


def test_report_command_writes_the_html(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text('{"model": {"parameters": 1234, "size_mb": 0.5}}')
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(run), "--out", str(out), "--title", "My run"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_text()
    assert "<h1>My run</h1>" in text and "<td class=num>1,234</td>" in text


def test_report_command_bad_folder_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing: not a folder" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def test_report_help_has_examples(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["report", "--help"])
    assert exit_info.value.code == 0
    assert "Examples:\n  sonomtl report runs/msen --out" in capsys.readouterr().out
