"""``python -m runtime.synthetic``."""

import sys

from runtime.synthetic._cli import main

sys.exit(main())
