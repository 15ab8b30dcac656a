"""Wall time of each notebook of the demo (or any domain) on this machine.

Usage:
    python bench/demo_time.py [DOMAIN] [--set KEY=VALUE ...]

Runs the whole suite through the real runner into a temporary outputs folder and prints seconds per
notebook and in total, with the machine's CPU count and torch device.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

from nbutils.config import load_params
from nbutils.models import resolve_device
from nbutils.runner import parse_stages, run_domain


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("domain", nargs="?", default="python_docs")
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("--outputs", help="keep the reports here (default: a temporary folder, removed after)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        params = load_params(
            args.domain, f"params/{args.domain}.yaml", [f"outputs_dir={args.outputs or tmp}", *args.set]
        )
        start = time.perf_counter()
        summary = run_domain(params, parse_stages(None), progress=False)
        total = time.perf_counter() - start
    print(
        f"\ndomain {args.domain}; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
        f"device {resolve_device(params.device)}"
    )
    print(f"{'notebook':<12}{'seconds':>9}")
    for stage, sec in summary.seconds.items():
        print(f"{stage:<12}{sec:>9.0f}")
    print(f"{'total':<12}{total:>9.0f}   (including HTML export and the index)")


if __name__ == "__main__":
    main()
