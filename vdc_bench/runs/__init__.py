"""Running lmms-eval and reading what it wrote: the runner, run summaries, efficiency, sweeps."""
