"""The benchmark's quick mode runs end to end on the tutorial workload and saves its JSON."""
import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent


def test_bench_quick_tutorial(shared_dir, tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ, MXC_SHARED=str(shared_dir))
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--workloads", "tutorial",
                           "--systems", "mxc,numpy", "--output", str(out)],
                          cwd=str(REPO), env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mxc vs numpy" in proc.stdout
    res = json.loads(out.read_text())["results"]
    by_system = {r["system"]: r for r in res}
    assert set(by_system) == {"mxc", "numpy"}
    for r in by_system.values():
        assert r["train_sps"] > 0 and r["infer_sps"] > 0 and r["peak_mib"] > 0
        # both loops learn the task: the tutorial reaches ~0.79 after 8 epochs
        assert r["accuracy"] > 0.7, r
    assert by_system["mxc"]["compile_train_s"] > 0
    assert by_system["mxc"]["cache_hit_bind_s"] < by_system["mxc"]["compile_train_s"]
