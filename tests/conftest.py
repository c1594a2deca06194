"""Shared pytest fixtures."""
import os
import pathlib

import pytest

_REPO = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def shared_dir():
    """Directory with the shared data and reference checkpoints (env MXC_SHARED overrides)."""
    candidates = []
    if os.environ.get("MXC_SHARED"):
        candidates.append(pathlib.Path(os.environ["MXC_SHARED"]))
    candidates += [_REPO.parent / "shared", _REPO / "shared"]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    pytest.skip("shared data directory not found (set MXC_SHARED; tried %s)"
                % ", ".join(str(p) for p in candidates))
