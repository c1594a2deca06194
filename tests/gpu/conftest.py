"""GPU-only tests: skipped, with the reason printed, where nvcc or a GPU is missing."""
import pytest


def gpu_skip_reason():
    from mxc.compiler import build_cuda
    from mxc.context import num_gpus
    if build_cuda.nvcc_path() is None:
        return "nvcc is missing"
    if num_gpus() == 0:
        return "no GPU is visible"
    return None


def pytest_collection_modifyitems(config, items):
    reason = gpu_skip_reason()
    if reason is None:
        return
    print("\ntests/gpu skipped: %s" % reason)
    for item in items:
        if "tests/gpu" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.skip(reason="GPU tests: %s" % reason))
