"""Without PostgreSQL's binaries the harness says what is missing and how to install it
(``postgresql_missing``), rather than failing somewhere inside a subprocess."""

from __future__ import annotations

from pathlib import Path

import pytest

from tooling.pgcluster import PostgresqlMissing, pg_bin_dir


def test_missing_binaries_raise_postgresql_missing_with_the_apt_hint(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEIBO_PG_BIN", str(tmp_path))  # an empty directory: no initdb there
    with pytest.raises(PostgresqlMissing) as caught:
        pg_bin_dir()
    assert caught.value.code == "postgresql_missing"
    assert "apt-get install postgresql" in caught.value.message
    assert caught.value.as_dict()["details"]["hint"] == "apt-get install postgresql"


def test_installed_binaries_are_found() -> None:
    assert (pg_bin_dir() / "pg_ctl").is_file()
