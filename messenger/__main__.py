"""``python -m messenger serve ...``: the node's CLI without the rest of msgfleet."""

import sys

from messenger.cli import app
from messenger.errors import MessengerConfigError

try:
    app()
except MessengerConfigError as exc:
    print(f"messenger: {exc}", file=sys.stderr)
    sys.exit(2)
