"""Import every ragserve module with only the core dependencies installed.

Optional backends import their SDK lazily, so importing a module must never need an extra; using it
without the extra raises MissingDependency with the pip command to run. Exits 1 on the first failure.
"""

import importlib
import pkgutil
import sys

import ragserve
from ragserve.core.errors import MissingDependency

SKIP = {"ragserve.testing"}  # needs pytest, by design


def main() -> int:
    failures = []
    names = [m.name for m in pkgutil.walk_packages(ragserve.__path__, "ragserve.")]
    for name in names:
        if name in SKIP:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # report every module that fails
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
    # using an optional backend without its extra says what to install
    from ragserve.backends.embedders.local import model_dir

    try:
        model_dir("all-MiniLM-L6-v2", None)
        failures.append("the model package is installed in the core-only environment")
    except MissingDependency as exc:
        assert "pip install" in exc.hint, exc.hint
    print(f"imported {len(names) - len(SKIP)} modules without extras; {len(failures)} failures")
    for line in failures:
        print("  " + line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
