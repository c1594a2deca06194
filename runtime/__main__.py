"""`python -m mxc ...`: the command-line tools (see mxc.compiler.cli)."""
import sys

from mxc.compiler.cli import main

if __name__ == "__main__":
    sys.exit(main())
