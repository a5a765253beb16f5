"""Run summaries, plots and HTML/Markdown reports built from saved run files alone."""
