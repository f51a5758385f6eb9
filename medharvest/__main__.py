import sys

from medharvest.cli import main

sys.exit(main())
