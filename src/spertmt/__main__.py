"""``python -m spertmt`` runs the command line."""

import sys

from spertmt.cli import main

sys.exit(main())
