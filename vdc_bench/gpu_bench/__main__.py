import sys

from vdc_bench.gpu_bench.run import main

sys.exit(main())
