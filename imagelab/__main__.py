import sys

from imagelab.cli import main

sys.exit(main())
