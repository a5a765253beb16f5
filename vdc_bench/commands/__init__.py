"""``vdc-bench`` subcommands, one module each (see ``vdc_bench.cli``)."""
