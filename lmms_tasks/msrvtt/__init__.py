"""MSR-VTT captioning on the 1k-A test split, read from the original release files (see task.py)."""
