"""The dependency scan's reading of pip-audit reports and of the ignore list."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "audit_dependencies.py"
_spec = importlib.util.spec_from_file_location("audit_dependencies", SCRIPT)
assert _spec is not None and _spec.loader is not None
scan = importlib.util.module_from_spec(_spec)
# dataclasses look their module up in sys.modules.
sys.modules["audit_dependencies"] = scan
_spec.loader.exec_module(scan)

# The shape of `pip-audit --format json` (pip-audit 2.10).
REPORT = {
    "dependencies": [
        {"name": "jinja2", "version": "3.1.2", "vulns": [
            {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"],
             "aliases": ["CVE-2024-22195"], "description": "xss in xmlattr"},
        ]},
        {"name": "numpy", "version": "2.4.6", "vulns": []},
        {"name": "coflex", "skip_reason": "Dependency not found on PyPI"},
    ],
    "fixes": [],
}


def test_summary_lists_vulnerability() -> None:
    result = scan.summarise(REPORT)
    assert result.audited == 2
    assert result.skipped == ["Dependency not found on PyPI"]
    assert result.vulnerabilities == [
        "jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)"
    ]


def test_summary_counts_all_skipped() -> None:
    report = {"dependencies": [{"name": "a", "skip_reason": "not found"}]}
    result = scan.summarise(report)
    assert result.audited == 0
    assert result.vulnerabilities == []


def test_ignore_list_drops_comments(tmp_path: Path) -> None:
    path = tmp_path / "ignore.txt"
    path.write_text(
        "# header\n\nGHSA-aaaa-bbbb-cccc  # unused function; review 2027-01-31\n"
    )
    assert scan.read_ignore_list(path) == ["GHSA-aaaa-bbbb-cccc"]
    assert scan.read_ignore_list(tmp_path / "missing.txt") == []


def test_shipped_ignore_list_empty() -> None:
    assert scan.read_ignore_list(scan.IGNORE_FILE) == []
