import sys

from tinybgn.cli import main

sys.exit(main())
