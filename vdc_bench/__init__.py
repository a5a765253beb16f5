"""vdc-bench: the VDC benchmark, VDCscore and an AuroraCap adapter on top of lmms-eval."""

__version__ = "0.1.0"
