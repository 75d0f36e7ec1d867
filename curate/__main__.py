"""`python -m curate`: the curakit command line (kept for scripts written before `python -m curakit`)."""

import sys

from curakit._cli import main

sys.exit(main())
