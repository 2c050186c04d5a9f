"""``python -m clauseline``: the same as the ``clauseline`` command."""

import sys

from .cli import main

sys.exit(main())
