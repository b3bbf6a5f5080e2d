"""``python -m bench.synthetic``: the same as ``python -m runtime.synthetic``."""

import sys

from runtime.synthetic import main

sys.exit(main())
