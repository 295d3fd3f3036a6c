"""``python -m allfocus`` runs the command-line interface."""

import sys

from allfocus.cli.app import main

sys.exit(main())
