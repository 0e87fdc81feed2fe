"""Time `coflex demo` end to end for a fleet size.

Usage: python benchmarks/demo.py --customers 1000 [--database URL]

Prints one JSON line: wall seconds of the whole command (imports included),
the demo's own seconds from summary.json, and the peak resident memory of the
process [MiB]. Each run uses a fresh SQLite file unless --database is given.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database", default=None, help="database URL (default: a new SQLite file)"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        database = args.database or f"sqlite:///{Path(folder) / 'bench.sqlite'}"
        output = Path(folder) / "out"
        command = [
            sys.executable,
            "-m",
            "coflex.entrypoints.cli",
            "demo",
            "--customers",
            str(args.customers),
            "--seed",
            str(args.seed),
            "--database",
            database,
            "--output",
            str(output),
            "--quiet",
        ]
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - started
        summary = json.loads((output / "summary.json").read_text())
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "customers": args.customers,
                "wall_seconds": round(wall, 1),
                "demo_seconds": summary["seconds"],
                "peak_rss_mib": round(peak_kib / 1024),
                "database": database.split(":")[0],
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
