"""`python -m curakit`: the curakit command line."""

import sys

from curakit._cli import main

sys.exit(main())
