"""``python -m scripts.devnet``: the devnet command (:mod:`scripts.devnet.cli`)."""

import sys

from scripts.devnet.cli import main

sys.exit(main())
