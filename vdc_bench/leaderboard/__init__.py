"""The VDC leaderboard: published rows (with consistency flags) plus rows from our runs."""
