"""alm registry serve with a --dir that is a file: a usage error saying so, not a
misleading "cannot listen"."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run


def test_a_dir_that_is_a_file_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    afile = tmp_path / "bundles"
    afile.write_text("not a folder\n")
    code, _, err = run(capsys, "registry", "serve", "--dir", str(afile), "--port", "0")
    assert code == 2  # without the fix: 1, "cannot listen on 127.0.0.1:0: File exists"
    assert "--dir" in err and "is a file" in err and "cannot listen" not in err
    assert afile.read_text() == "not a folder\n"
