"""lmms-eval task YAMLs (installed as ``vdc_bench.lmms_tasks``); found through the TaskManager hook."""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
