"""``python -m grounded_core.babyai_text``: the BabyAI-Text command line (see cli.py)."""

import sys

from .cli import main

sys.exit(main())
