"""Tests for mx.Context and the default-context stack."""
import threading

import pytest

import mxc as mx
from mxc import context as ctx_mod
from mxc.base import MXNetError


def test_constructors_and_attributes():
    c = mx.gpu(1)
    assert (c.device_type, c.device_typeid, c.device_id) == ("gpu", 2, 1)
    assert mx.cpu().device_typeid == 1 and mx.cpu_pinned(2).device_typeid == 3
    assert mx.Context("cpu_shared").device_typeid == 5
    assert str(mx.gpu(1)) == "gpu(1)" and repr(mx.cpu()) == "cpu(0)"
    assert str(mx.cpu_pinned()) == "cpu_pinned(0)"
    copy = mx.Context(c)
    assert copy == c and copy is not c


def test_equality_and_hash():
    assert mx.cpu() == mx.cpu(0)
    assert mx.cpu(0) != mx.cpu(1)
    assert mx.cpu(0) != mx.gpu(0)
    assert mx.cpu() != "cpu(0)"
    assert len({mx.cpu(), mx.cpu(0), mx.gpu(0)}) == 2


def test_unknown_device_type():
    with pytest.raises(ValueError, match="tpu"):
        mx.Context("tpu")


def test_with_sets_and_restores_default():
    assert ctx_mod.current_context() == mx.cpu(0)
    with mx.gpu(3):
        assert ctx_mod.current_context() == mx.gpu(3)
        with mx.cpu(1):
            assert ctx_mod.current_context() == mx.cpu(1)
        assert ctx_mod.current_context() == mx.gpu(3)
    assert ctx_mod.current_context() == mx.cpu(0)


def test_same_context_nested_twice():
    g = mx.gpu(0)
    with g:
        with g:
            pass
        assert ctx_mod.current_context() == g
    assert ctx_mod.current_context() == mx.cpu(0)


def test_default_is_per_thread():
    seen = []
    with mx.gpu(2):
        thread = threading.Thread(target=lambda: seen.append(ctx_mod.current_context()))
        thread.start()
        thread.join()
    assert seen == [mx.cpu(0)]


def test_num_gpus_never_raises(monkeypatch):
    assert ctx_mod.num_gpus() >= 0
    monkeypatch.setattr(ctx_mod.shutil, "which", lambda name: None)
    assert ctx_mod.num_gpus() == 0


def test_num_gpus_counts_nvidia_smi_lines(monkeypatch):
    out = "GPU 0: NVIDIA H100 (UUID: GPU-1)\nGPU 1: NVIDIA H100 (UUID: GPU-2)\n"
    monkeypatch.setattr(ctx_mod, "_nvidia_smi", lambda *args: out)
    assert ctx_mod.num_gpus() == 2


def test_gpu_memory_info_without_gpu_names_device(monkeypatch):
    monkeypatch.setattr(ctx_mod.shutil, "which", lambda name: None)
    with pytest.raises(MXNetError, match=r"gpu\(0\)"):
        ctx_mod.gpu_memory_info(0)


def test_gpu_memory_info_parses_mib(monkeypatch):
    monkeypatch.setattr(ctx_mod, "_nvidia_smi", lambda *args: "100, 200\n")
    assert ctx_mod.gpu_memory_info(0) == (100 * 2 ** 20, 200 * 2 ** 20)
