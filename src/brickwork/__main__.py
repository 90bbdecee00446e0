"""`python -m brickwork ...` (what torchrun runs in each worker) is the `brickwork` command."""

import sys

from brickwork.cli.main import main

sys.exit(main())
