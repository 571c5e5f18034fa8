from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
if not SHARED.exists():  # a clone elsewhere: look beside the repository's parent too
    SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (CI has it beside the clone); tests that need it fail loudly without it."""
    assert SHARED.is_dir(), f"shared data not found at {SHARED}"
    return SHARED
