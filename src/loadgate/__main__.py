import sys

from loadgate.cli import main

sys.exit(main())
