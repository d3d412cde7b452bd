"""``python -m grounded_ros.launcher``: the same as the ``grounded-launch`` command."""

import sys

from .cli import main

sys.exit(main())
