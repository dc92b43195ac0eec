import sys

from umbrella.cli import main

sys.exit(main())
