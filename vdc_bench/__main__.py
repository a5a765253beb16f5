import sys

from vdc_bench.cli import main

sys.exit(main())
