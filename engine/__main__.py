"""``python -m clauseline``: the same as the ``clauseline`` command."""

import sys

from ._entry import main

sys.exit(main())
