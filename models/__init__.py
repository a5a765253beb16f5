"""Model adapters (installed as ``vdc_bench.models``). Nothing here imports scoring code."""
