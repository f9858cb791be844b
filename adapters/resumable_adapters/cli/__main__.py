"""``python -m resumable_adapters.cli``."""

import sys

from ._main import main

sys.exit(main())
