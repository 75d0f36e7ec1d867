import sys

from curate._cli import main

sys.exit(main())
