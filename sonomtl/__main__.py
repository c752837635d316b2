"""``python -m sonomtl`` is the ``sonomtl`` command."""

import sys

from sonomtl.cli import main

sys.exit(main())
