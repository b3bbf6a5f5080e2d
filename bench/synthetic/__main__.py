"""``python -m bench.synthetic``."""

import sys

from bench.synthetic._cli import main

sys.exit(main())
