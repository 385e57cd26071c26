"""The docs: measured tables as their JSON reports say (extras/docs_tables.py), and a strict mkdocs build."""
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from extras import docs_tables

ROOT = Path(__file__).resolve().parent.parent


def test_tables_match_their_json():
    assert docs_tables.main(["--check"]) == 0


def test_check_finds_a_stale_table_and_writing_fixes_it(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    (tmp_path / "extras").mkdir()
    for report in (ROOT / "extras").glob("*.json"):   # the reports the tables come from
        shutil.copy(report, tmp_path / "extras")
    page = tmp_path / "docs" / "performance.md"
    page.write_text(page.read_text().replace("| 0.530 |", "| 0.600 |", 1))
    assert docs_tables.main(["--check", "--root", str(tmp_path)]) == 1
    assert docs_tables.main(["--root", str(tmp_path)]) == 0
    assert page.read_text() == (ROOT / "docs" / "performance.md").read_text()
    assert docs_tables.main(["--check", "--root", str(tmp_path)]) == 0


def test_unknown_or_missing_tables_are_refused(tmp_path):
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    shutil.copytree(ROOT / "extras", tmp_path / "extras", ignore=shutil.ignore_patterns("*.png", "*.mp4"))
    page = tmp_path / "docs" / "performance.md"
    text = page.read_text()
    page.write_text(text + "\n<!-- table:no-such-table -->\n<!-- /table:no-such-table -->\n")
    assert docs_tables.main(["--check", "--root", str(tmp_path)]) == 1
    page.write_text(text.replace("<!-- table:cpu-steps -->", "").replace("<!-- /table:cpu-steps -->", ""))
    assert docs_tables.main(["--check", "--root", str(tmp_path)]) == 1


@pytest.mark.skipif(any(importlib.util.find_spec(name) is None for name in ("mkdocs", "material", "mkdocstrings")),
                    reason="mkdocs, mkdocs-material or mkdocstrings is not installed: pip install -r "
                           "requirements-docs.txt")
def test_mkdocs_build_strict(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                            cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "performance" / "index.html").is_file()
