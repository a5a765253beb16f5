"""VDC data: loaders for every known on-disk layout, defect handling, prompt choice, demo and synthetic sets."""
