"""Run one notebook stage with papermill and record its wall time and peak memory.

``python -m idsd.stage NOTEBOOK OUTPUT_NOTEBOOK LOG TIMINGS_CSV -- [papermill options]`` is what
``run_all.sh`` calls per stage. The papermill process and its kernel run as a child process; after
it ends, ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` gives the peak resident memory of the largest
process of that tree (the kernel, in practice), which is appended with the wall time to
``TIMINGS_CSV`` (columns ``stage, status, seconds, peak_rss_mib, finished``). Exit status is
papermill's.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

FIELDS = ("stage", "status", "seconds", "peak_rss_mib", "finished")


def run_stage(notebook: str, output: str, log: str, timings: str, papermill_args: list[str]) -> int:
    """Execute ``notebook`` into ``output`` with papermill, logging to ``log``; return the exit status."""
    cmd = [sys.executable, "-m", "papermill", notebook, output, *papermill_args]
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        status = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    seconds = time.perf_counter() - t0
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
    path = Path(timings)
    new = not path.is_file()
    with open(path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(dict(stage=Path(notebook).stem, status="ok" if status == 0 else f"failed ({status})",
                             seconds=round(seconds, 1), peak_rss_mib=round(peak_mib, 1),
                             finished=datetime.now(UTC).isoformat(timespec="seconds")))
    return status


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv or argv.index("--") != 4:
        print("usage: python -m idsd.stage NOTEBOOK OUTPUT LOG TIMINGS_CSV -- [papermill options]", file=sys.stderr)
        return 2
    notebook, output, log, timings = argv[:4]
    os.makedirs(os.path.dirname(os.path.abspath(log)), exist_ok=True)
    return run_stage(notebook, output, log, timings, argv[5:])


if __name__ == "__main__":
    sys.exit(main())
