import sys

from curakit._cli import main

sys.exit(main())
