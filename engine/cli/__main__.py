"""`python -m engine.cli` is `caseload`."""

import sys

from engine.cli import main

sys.exit(main())
