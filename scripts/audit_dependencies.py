"""Scan the installed Python packages for known vulnerabilities with pip-audit.

Exit status: 0 when no package has a known vulnerability outside the ignore
list, and 1 when one has. When the vulnerability service returns no data,
the scan proves nothing either way: it prints a warning and exits 0, or 3
with ``--require-service``.

The ignore list (``.ci/vulnerability-ignore.txt``) holds one advisory id a
line, each with a comment saying why it does not apply and when to review
it; docs/threat-model.md states the policy.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

IGNORE_FILE = Path(__file__).resolve().parents[1] / ".ci" / "vulnerability-ignore.txt"


@dataclass(frozen=True)
class ScanResult:
    """The counts and findings of one pip-audit report."""

    audited: int
    # pip-audit's reason for each package it could not check.
    skipped: list[str]
    vulnerabilities: list[str]


def read_ignore_list(path: Path) -> list[str]:
    """Return the advisory ids of ``path``; text after ``#`` is a comment."""
    if not path.exists():
        return []
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        advisory = line.split("#", 1)[0].strip()
        if advisory:
            ids.append(advisory)
    return ids


def summarise(report: dict[str, Any]) -> ScanResult:
    """Classify a pip-audit JSON report into audited, skipped and vulnerable."""
    skipped, found, audited = [], [], 0
    for dependency in report.get("dependencies", []):
        name = dependency["name"]
        if "skip_reason" in dependency:
            skipped.append(dependency["skip_reason"])
            continue
        audited += 1
        for vulnerability in dependency.get("vulns", []):
            fixes = ", ".join(vulnerability.get("fix_versions", [])) or "none yet"
            found.append(
                f"{name} {dependency['version']}: {vulnerability['id']} "
                f"(fixed in {fixes})"
            )
    return ScanResult(audited, skipped, found)


def run_pip_audit(ignored: list[str]) -> dict[str, Any] | None:
    """Run pip-audit on this interpreter's environment; None if it failed."""
    command = [
        sys.executable, "-m", "pip_audit", "--local", "--skip-editable",
        "--format", "json", "--progress-spinner", "off",
    ]
    for advisory in ignored:
        command += ["--ignore-vuln", advisory]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    try:
        return json.loads(completed.stdout)  # type: ignore[no-any-return]
    except json.JSONDecodeError:
        print(completed.stderr.strip()[-2000:], file=sys.stderr)
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--require-service",
        action="store_true",
        help="Fail (exit 3) when the vulnerability service cannot be reached.",
    )
    parser.add_argument("--ignore-file", type=Path, default=IGNORE_FILE)
    options = parser.parse_args()

    ignored = read_ignore_list(options.ignore_file)
    report = run_pip_audit(ignored)
    result = summarise(report) if report is not None else None
    if result is None or result.audited == 0:
        reason = result.skipped[0] if result and result.skipped else "pip-audit failed"
        print(
            "dependency scan: WARNING no package could be checked, because the "
            f"vulnerability service returned no data (first: {reason})"
        )
        return 3 if options.require_service else 0

    for line in result.vulnerabilities:
        print(f"dependency scan: VULNERABLE {line}")
    print(
        f"dependency scan: {result.audited} packages checked, "
        f"{len(result.skipped)} not found on the index, "
        f"{len(result.vulnerabilities)} known vulnerabilities, "
        f"{len(ignored)} advisories ignored"
    )
    return 1 if result.vulnerabilities else 0


if __name__ == "__main__":
    sys.exit(main())
