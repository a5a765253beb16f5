"""Tooling for a GPU box or a maintainer, never imported by the package: the data-parallel scaling
driver and the wheels it carries. Run from the checkout with ``PYTHONPATH=tools python -m gpu_box.<module>``."""
