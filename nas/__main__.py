"""`python -m nas ...`: the same command line as `hwnas ...`."""

import sys

from nas.cli import main

sys.exit(main())
