"""Build and run the libFuzzer harnesses of the exported C readers.

    python tools/fuzz/run_c_fuzz.py [--seconds N] [--work DIR] [--json]

Exports the model of build_model.py into DIR (default: a new temporary folder), compiles
params_reader_fuzz.c (the .params reader) and data_reader_fuzz.c (CSV, IDX, raw, option
parsers) with clang -fsanitize=fuzzer,address,undefined, and runs each for N seconds (default 60)
on a copy of corpus/ (the committed seeds stay as they are). Exits 1 when a harness reports a
finding (its crash input and log stay in DIR), 2 when clang cannot build a fuzzer.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CFLAGS = ["-g", "-O1", "-std=c11", "-fsanitize=fuzzer,address,undefined",
          "-fno-sanitize-recover=all", "-Wall", "-Wextra"]
HARNESSES = {  # name: (source, -D macro naming the generated file, extra sources, corpus, dict)
    "params": ("params_reader_fuzz.c", 'MODEL_C="fz.c"', [], "params", "params.dict"),
    "data": ("data_reader_fuzz.c", 'TRAIN_C="fz_train.c"', ["fz.c"], "data", "data.dict"),
}


def clang():
    return os.environ.get("CLANG") or shutil.which("clang")


def fuzzer_support(cc):
    """None when cc links a libFuzzer binary with ASan and UBSan, else the reason it cannot."""
    if not cc:
        return "clang is not installed (apt-get install clang libclang-rt-14-dev)"
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <stddef.h>\n#include <stdint.h>\n"
                    "int LLVMFuzzerTestOneInput(const uint8_t* d, size_t n) "
                    "{ (void)d; (void)n; return 0; }\n")
        res = subprocess.run([cc] + CFLAGS + [src, "-o", os.path.join(tmp, "probe")],
                             capture_output=True, text=True)
        if res.returncode:
            return ("%s cannot build a libFuzzer binary (the fuzzer runtime, e.g. "
                    "libclang-rt-14-dev, is missing?): %s" % (cc, res.stderr.strip()[:300]))
    return None


def export_model(work):
    model = os.path.join(work, "model")
    subprocess.run([sys.executable, os.path.join(HERE, "build_model.py"), model], check=True)
    return model


def build(cc, model, work):
    """{harness name: binary path}"""
    out = {}
    for name, (src, define, extra, _, _) in HARNESSES.items():
        binary = os.path.join(work, name + "_fuzz")
        cmd = ([cc] + CFLAGS + ["-D" + define, "-I", model, os.path.join(HERE, src)]
               + [os.path.join(model, e) for e in extra] + ["-lm", "-o", binary])
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode:
            raise SystemExit("building %s failed:\n%s\n%s" % (name, " ".join(cmd), res.stderr))
        out[name] = binary
    return out


def run(name, binary, work, seconds):
    """Runs one harness; returns its statistics (runs, seconds, exec/s, findings)."""
    corpus = os.path.join(work, "corpus-" + name)
    shutil.rmtree(corpus, ignore_errors=True)
    shutil.copytree(os.path.join(HERE, "corpus", HARNESSES[name][3]), corpus)
    artifacts = os.path.join(work, "findings-" + name) + os.sep
    os.makedirs(artifacts, exist_ok=True)
    cmd = [binary, "-max_total_time=%d" % seconds, "-close_fd_mask=2", "-rss_limit_mb=2048",
           "-timeout=10", "-max_len=8192", "-print_final_stats=1",
           "-dict=" + os.path.join(HERE, HARNESSES[name][4]), "-artifact_prefix=" + artifacts,
           corpus]
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=seconds + 120)
    log = res.stdout + res.stderr
    with open(os.path.join(work, name + ".log"), "w") as f:
        f.write(log)
    done = re.search(r"Done (\d+) runs in (\d+) second", log)
    runs = int(done.group(1)) if done else 0
    secs = int(done.group(2)) if done else seconds
    findings = sorted(os.listdir(artifacts))
    return dict(harness=name, command=" ".join(cmd), rc=res.returncode, runs=runs,
                seconds=secs, exec_per_s=runs // max(secs, 1), findings=findings,
                log_tail=log[-3000:] if res.returncode or findings else "")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--work", default=None)
    ap.add_argument("--json", action="store_true", help="print the statistics as JSON")
    args = ap.parse_args(argv)
    cc = clang()
    why = fuzzer_support(cc)
    if why:
        print(why, file=sys.stderr)
        return 2
    work = args.work or tempfile.mkdtemp(prefix="mxc-cfuzz-")
    os.makedirs(work, exist_ok=True)
    binaries = build(cc, export_model(work), work)
    stats = [run(name, binaries[name], work, args.seconds) for name in HARNESSES]
    if args.json:
        print(json.dumps(stats))
    else:
        for s in stats:
            print("%-6s %9d runs in %3d s (%d exec/s), findings: %s" % (
                s["harness"], s["runs"], s["seconds"], s["exec_per_s"],
                ", ".join(s["findings"]) or "none"))
            if s["log_tail"]:
                print(s["log_tail"])
        print("work folder: %s" % work)
    return 1 if any(s["rc"] or s["findings"] for s in stats) else 0


if __name__ == "__main__":
    sys.exit(main())
