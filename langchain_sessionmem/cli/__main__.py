"""``python -m langchain_sessionmem.cli``."""

import sys

from . import main

sys.exit(main())
