import sys

from wheelscan.cli.main import main

sys.exit(main())
