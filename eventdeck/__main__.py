"""``python -m eventdeck`` is the ``eventdeck`` command."""
import sys

from eventdeck.cli import main

sys.exit(main())
