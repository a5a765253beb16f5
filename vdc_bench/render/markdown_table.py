"""GitHub-flavoured Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]], left_columns: int = 1) -> str:
    def clean(value: object) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    align = [":---" if i < left_columns else "---:" for i in range(len(headers))]
    lines = ["| " + " | ".join(clean(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(clean(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
