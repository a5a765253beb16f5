"""HTML and Markdown building blocks with no domain knowledge (the bottom layer of the package)."""
