"""``python -m idsd`` runs the command line."""

import sys

from idsd.cli import main

sys.exit(main())
