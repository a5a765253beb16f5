"""The VDC task: YAMLs, the task class and doc hooks (``task.py``), and the VDCscore aggregations
lmms-eval calls (``metrics.py``), side by side as lm-evaluation-harness keeps a task's hooks."""
