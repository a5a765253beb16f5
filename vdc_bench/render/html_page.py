"""Self-contained HTML pages: inline CSS, no scripts, no external resources (opens from file://)."""

from __future__ import annotations

import html
from collections.abc import Sequence

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:24px auto;
max-width:1400px;padding:0 16px;color:#1b1f24;line-height:1.4}
h1{font-size:1.6em;margin-bottom:4px}h2{font-size:1.25em;margin-top:28px;border-bottom:1px solid #d0d7de}
.sub{color:#57606a;margin-top:0}
table{border-collapse:collapse;margin:8px 0 16px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:right;vertical-align:top;white-space:nowrap}
th{background:#f6f8fa;position:sticky;top:0}
td.l,th.l{text-align:left}td.l{white-space:normal;max-width:640px}
tr.published td{background:#fff}tr.demo td{background:#fff8e1}tr.run td{background:#e8f4ff}
.badge{display:inline-block;border-radius:4px;padding:0 5px;font-size:11px;color:#fff}
.badge.published{background:#6e7781}.badge.demo{background:#bf8700}.badge.run{background:#0969da}
.flag{color:#9a6700}.bad{color:#cf222e}
.notes li{margin:2px 0;font-size:13px}
figure{margin:12px 0}figure svg,figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{font-size:12px;color:#57606a}
code,pre{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
pre{background:#f6f8fa;padding:8px;overflow-x:auto;white-space:pre-wrap}
"""


class Markup(str):
    """Text that is already HTML (not escaped again by ``table``)."""


def esc(value: object) -> str:
    return value if isinstance(value, Markup) else html.escape(str(value))


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    row_classes: Sequence[str] | None = None,
    left_columns: int = 1,
    table_id: str | None = None,
) -> Markup:
    """An HTML table; the first ``left_columns`` columns are left-aligned (names), the rest numbers."""

    def cell(tag: str, i: int, value: object) -> str:
        cls = ' class="l"' if i < left_columns else ""
        return f"<{tag}{cls}>{esc(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes else ""
        body.append(f"<tr{cls}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    ident = f' id="{table_id}"' if table_id else ""
    return Markup(f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def page(title: str, body: str, subtitle: str = "") -> str:
    sub = f'<p class="sub">{esc(subtitle)}</p>' if subtitle else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{esc(title)}</title><style>{CSS}</style></head>"
        f"<body><h1>{esc(title)}</h1>{sub}{body}</body></html>\n"
    )
