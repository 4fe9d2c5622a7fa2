import sys

from shiftspike.cli import main

sys.exit(main())
