"""Third-party OpenADR 3 clients, each in a virtual environment of its own.

ElaadNL's openadr3-client and python-oa3-client both install a package named
``openadr3_client``, so they cannot share an environment. Each environment is
created once under ``.interop/`` at the repository root (git-ignored) and
reused while its pin is unchanged; on a fresh machine it is built from the
package index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".interop"
SCRIPTS = Path(__file__).resolve().parent / "openadr3_clients"


@dataclass(frozen=True)
class Peer:
    name: str
    requirement: str
    python: str  # interpreter name on PATH
    script: str


# python-oa3-client needs Python >= 3.10; ElaadNL's openadr3-client >= 3.12.
OA3 = Peer(
    "python-oa3-client", "python-oa3-client==0.5.0", "python3.11", "oa3_client.py"
)
ELAAD = Peer(
    "openadr3-client", "openadr3-client==2.4.2", "python3.12", "elaad_client.py"
)


def interpreter(peer: Peer) -> str | None:
    """Return a working interpreter for ``peer``, or None if none is installed.

    A pyenv shim is on PATH even when its version is not selected, so each
    candidate is run once before it is trusted.
    """
    if peer.python == "python3.11" and sys.version_info[:2] == (3, 11):
        return sys.executable
    version = peer.python.removeprefix("python")
    candidates = [shutil.which(peer.python)] + sorted(
        str(path)
        for path in Path.home().glob(f".pyenv/versions/{version}*/bin/{peer.python}")
    )
    for candidate in candidates:
        if candidate is None:
            continue
        probe = subprocess.run(
            [candidate, "-c", "import sys"], capture_output=True, timeout=30
        )
        if probe.returncode == 0:
            return candidate
    return None


def environment(peer: Peer) -> Path:
    """Create (or reuse) the peer's virtual environment; return its python."""
    folder = CACHE / peer.name
    python = folder / "bin" / "python"
    marker = folder / "installed.txt"
    if marker.exists() and marker.read_text() == peer.requirement:
        return python
    base = interpreter(peer)
    assert base is not None, f"{peer.python} is not installed"
    shutil.rmtree(folder, ignore_errors=True)
    subprocess.run([base, "-m", "venv", str(folder)], check=True, timeout=300)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", peer.requirement],
        check=True,
        timeout=600,
    )
    marker.write_text(peer.requirement)
    return python


def run(peer: Peer, python: Path, args: list[str], ca_file: Path) -> dict:
    """Run the peer's script with ``args``; return the JSON line it prints."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")
    }
    env["SSL_CERT_FILE"] = str(ca_file)
    env["REQUESTS_CA_BUNDLE"] = str(ca_file)
    done = subprocess.run(
        [str(python), str(SCRIPTS / peer.script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=CACHE,
    )
    assert done.returncode == 0, f"{peer.name} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])
