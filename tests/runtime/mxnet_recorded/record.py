"""Re-record this folder's MXNet ground truth (needs real MXNet; never run by the tests).

    python -m venv VENV && VENV/bin/pip install mxnet==1.9.1 numpy==1.23.5
    VENV/bin/python tests/runtime/mxnet_recorded/record.py
"""
import json
import pathlib
import sys

import mxnet as mx

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import recorded_graphs as graphs  # noqa: E402  (the builders MXNet ran)


def main():
    assert mx.__version__ == "1.9.1", mx.__version__
    (HERE / "graphs").mkdir(exist_ok=True)
    for name, build in graphs.GRAPHS.items():
        (HERE / "graphs" / ("%s.json" % name)).write_text(build(mx).tojson())
    queries = graphs.attribute_queries(mx)
    (HERE / "attributes.json").write_text(json.dumps(queries, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
