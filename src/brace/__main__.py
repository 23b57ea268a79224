"""``python -m brace``: the same as the ``brace`` command."""

import sys

from brace.cli import main

if __name__ == "__main__":
    sys.exit(main())
