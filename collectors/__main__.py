"""``python -m collectors``: the collector service (``eventdeck collect``), an entry point from a shell.
The service is built above the collectors, by ``eventdeck.service``."""
import sys

from eventdeck.collect import main

if __name__ == "__main__":
    sys.exit(main())
