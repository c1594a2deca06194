"""Stand-in for the test-infrastructure parts of `nose` that MXNet 1.9's test files import.

Used only by tools/mxnet_shim.py, and only when the real nose package is not installed
(nose 1.x does not run on current Python). It holds no MXNet API.
"""
