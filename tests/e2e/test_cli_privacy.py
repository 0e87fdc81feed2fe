"""`coflex privacy` as an operator runs it: keys, export, correction, deletion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from privacy_fixtures import ENDED, NAME, build_store  # noqa: E402


def coflex(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "COLUMNS": "200", **env}
    for name in ("COFLEX_DATABASE_URL", "COFLEX_DATA_KEY_FILE"):
        if name not in env:
            environment.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "coflex.entrypoints.cli", "privacy", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'coflex.sqlite'}"
    for _ in build_store(url, ENDED):
        pass
    return url


def test_export_correct_delete(store: str, tmp_path: Path) -> None:
    env = {"COFLEX_DATABASE_URL": store}
    exported = coflex(
        "export", "a1-c000001", "--output", "out.json", cwd=tmp_path, env=env
    )
    assert exported.returncode == 0, exported.stderr
    document = json.loads((tmp_path / "out.json").read_text())
    assert document["identity"]["name"] == NAME

    again = coflex(
        "export", "A1-C000001", "--output", "out.json", cwd=tmp_path, env=env
    )
    assert again.returncode == 2
    assert "exists" in again.stderr

    corrected = coflex(
        "correct", "A1-C000001", "--phone", "+1 919 555 0101", cwd=tmp_path, env=env
    )
    assert corrected.returncode == 0, corrected.stderr
    assert "corrected phone" in corrected.stdout

    unconfirmed = coflex("delete", "A1-C000001", cwd=tmp_path, env=env)
    assert unconfirmed.returncode == 2
    deleted = coflex("delete", "A1-C000001", "--yes", cwd=tmp_path, env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert "pseudonym-" in deleted.stdout
    assert "kept contracts" in deleted.stdout


def test_missing_key_exits_2(store: str, tmp_path: Path) -> None:
    env = {
        "COFLEX_DATABASE_URL": store,
        "COFLEX_DATA_KEYS": "",
        "COFLEX_DATA_KEY_FILE": str(tmp_path / "absent-keys"),
    }
    result = coflex("export", "A1-C000001", "--output", "x.json", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "no data encryption key" in result.stderr
    assert "coflex privacy keygen" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_keygen_writes_0600_once(tmp_path: Path) -> None:
    key_file = tmp_path / "config" / "data-keys"
    env = {"COFLEX_DATA_KEYS": "", "COFLEX_DATA_KEY_FILE": str(key_file)}
    first = coflex("keygen", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    second = coflex("keygen", cwd=tmp_path, env=env)
    assert second.returncode == 2
    assert "exists" in second.stderr


def test_keygen_inside_repository_rejected(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    env = {"COFLEX_DATA_KEYS": ""}
    result = coflex("keygen", "--output", str(tmp_path / "keys"), cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "inside the repository" in result.stderr
