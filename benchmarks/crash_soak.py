"""Crash soak: the SIGKILL test with many more kills than CI runs.

    python benchmarks/crash_soak.py [--kills 50]

Runs tests/integration/test_crash.py with RAGSERVE_CRASH_KILLS set: a `ragserve sync` is killed with
SIGKILL at random points that many times (files edited, deleted and added between runs), then the
catalog, the vector store and the keyword index must agree exactly. Prints the outcome and the time.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=50)
    args = parser.parse_args()
    started = time.monotonic()
    env = {**os.environ, "RAGSERVE_CRASH_KILLS": str(args.kills)}
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "tests/integration/test_crash.py"], cwd=ROOT, env=env)
    outcome = "converged" if result.returncode == 0 else "FAILED"
    print(f"{args.kills} SIGKILLs: {outcome} in {time.monotonic() - started:.0f} s")
    sys.exit(result.returncode)
