"""``python cli.py ...`` works the same as the ``nnconvert`` command."""
import sys

from convert.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
