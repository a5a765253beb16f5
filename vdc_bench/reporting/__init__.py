"""Plots and HTML/Markdown reports built from saved run and sweep files alone."""
