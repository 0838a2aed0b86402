import sys

from trustopt.cli import main

sys.exit(main())
