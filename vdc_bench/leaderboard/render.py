"""Leaderboard as Markdown and as a static, self-contained HTML page.

Rows are ranked only against rows judged by the same judge under the same protocol: one table per
(judge, protocol), best average accuracy first; the published rows (Llama-3.1-8B) come first.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from vdc_bench.atomic_write import atomic_write_text
from vdc_bench.leaderboard.published import average_flagged
from vdc_bench.leaderboard.schema import DIMENSIONS, Entry, Score
from vdc_bench.render.html_page import Markup, esc, page, table
from vdc_bench.render.markdown_table import markdown_table

KIND_LABELS = {
    "published": "published",
    "demo": "demo, tiny random model",
    "run": "our run",
}
HEADERS = ["#", "Model", "Kind", "#F", "TPF", "Judge", "Avg acc", "Avg score",
           *[f"{d.replace('_', ' ')} acc / score" for d in DIMENSIONS], "Notes"]


def sorted_entries(entries: list[Entry]) -> list[Entry]:
    """Best average accuracy first; entries without an average last, then by name."""
    return sorted(entries, key=lambda e: (e.average.acc is None, -(e.average.acc or 0.0), e.model))


def judge_groups(entries: list[Entry]) -> list[tuple[str, str, list[Entry]]]:
    """``(judge, protocol, ranked rows)`` per judge and protocol; published rows' group first."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for entry in entries:
        groups.setdefault((entry.judge_model, entry.protocol), []).append(entry)

    def order(key: tuple[str, str]) -> tuple[bool, str, str]:
        return (not any(e.kind == "published" for e in groups[key]), *key)

    return [(judge, protocol, sorted_entries(groups[judge, protocol])) for judge, protocol in sorted(groups, key=order)]


def _group_title(judge: str, protocol: str) -> str:
    return f"Judge {judge} · protocol {protocol}"


def _fmt(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _tpf(entry: Entry) -> str:
    if entry.tokens_per_frame is None:
        return "–"
    text = f"{entry.tokens_per_frame:.0f}" if entry.tokens_per_frame >= 10 else f"{entry.tokens_per_frame:.1f}"
    return text + (" (measured)" if entry.tokens_per_frame_kind == "measured" else "")


def _dim(score: Score) -> str:
    if score.acc is None and score.score is None:
        return "–"
    return f"{_fmt(score.acc, 2)} / {_fmt(score.score, 2)}"


def _model(entry: Entry) -> str:
    return f"{entry.model} ({entry.note})" if entry.note else entry.model


def _notes(entry: Entry, numbers: dict[str, list[int]]) -> str:
    return " ".join(f"[{n}]" for n in numbers.get(entry.id, []))


def _number_flags(entries: list[Entry]) -> tuple[dict[str, list[int]], list[tuple[int, str, str]]]:
    numbers: dict[str, list[int]] = {}
    notes = []
    for entry in entries:
        for flag in entry.flags:
            notes.append((len(notes) + 1, entry.model, flag))
            numbers.setdefault(entry.id, []).append(len(notes))
    return numbers, notes


def _ranked(entries: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """(ranked, unranked): demo and random-weight rows are never ranked with real models."""
    return [e for e in entries if e.kind != "demo"], [e for e in entries if e.kind == "demo"]


def _rows(entries: list[Entry], numbers: dict[str, list[int]], ranked: bool = True) -> list[list[str]]:
    rows = []
    for rank, entry in enumerate(entries, 1):
        avg_acc, avg_score = _fmt(entry.average.acc, 2), _fmt(entry.average.score, 2)
        computed = entry.computed_average
        # Flagged published averages show the mean of their dimensions next to them.
        if computed is not None and average_flagged(entry, "acc"):
            avg_acc += f" (mean {computed.acc:.2f})"
        if computed is not None and average_flagged(entry, "score"):
            avg_score += f" (mean {computed.score:.2f})"
        rows.append([
            str(rank) if ranked else "–", _model(entry), KIND_LABELS[entry.kind],
            "–" if entry.frames is None else str(entry.frames), _tpf(entry), entry.judge_model,
            avg_acc, avg_score,
            *[_dim(entry.dimensions[d]) for d in DIMENSIONS], _notes(entry, numbers),
        ])
    return rows


_LEGEND = (
    "One table per judge and protocol: VDCscore depends on the judge LLM and its prompts, so rows are ranked "
    "only against rows scored the same way, by average accuracy. #F = frames per video, TPF = visual tokens "
    "per frame (published: nominal, as claimed; ours: measured per sample, or as stated when added). Published "
    "rows are verbatim from the cited source and were judged by Llama-3.1-8B. Demo rows come from a tiny random "
    "model and mean nothing about caption quality."
)
UNRANKED = "Unranked: demo and random-weight rows (pipeline checks, not results)"


def _sections(entries: list[Entry]) -> list[tuple[str, list[Entry], bool]]:
    """``(title, rows, ranked)``: one ranked table per judge and protocol, then every demo and
    random-weight row in one unranked table (they are never ranked with real models)."""
    ranked, unranked = _ranked(entries)
    sections = [(_group_title(judge, protocol), rows, True) for judge, protocol, rows in judge_groups(ranked)]
    if unranked:
        sections.append((UNRANKED, sorted_entries(unranked), False))
    return sections


def render_markdown(entries: list[Entry]) -> str:
    sections = _sections(entries)
    numbers, notes = _number_flags([e for _, group, _ in sections for e in group])
    out = ["# VDC leaderboard\n", _LEGEND + "\n"]
    for title, group, ranked in sections:
        out += [f"## {title}\n", markdown_table(HEADERS, _rows(group, numbers, ranked=ranked), left_columns=3)]
    if notes:
        out.append("## Notes (flags)\n")
        out += [f"{n}. **{model}**: {flag}" for n, model, flag in notes]
        out.append("")
    sources = sorted({e.source for e in entries if e.kind == "published"})
    if sources:
        out.append("## Sources\n")
        out += [f"* {s}" for s in sources]
        out.append("")
    return "\n".join(out)


def render_html(entries: list[Entry], generated: str | None = None) -> str:
    sections = _sections(entries)
    numbers, notes = _number_flags([e for _, group, _ in sections for e in group])
    body = [f"<p>{esc(_LEGEND)}</p>"]
    for i, (title, group, ranked) in enumerate(sections):
        rows = _rows(group, numbers, ranked=ranked)
        for row, entry in zip(rows, group, strict=True):
            row[2] = Markup(f'<span class="badge {entry.kind}">{esc(row[2])}</span>')
        table_id = "unranked" if not ranked else "leaderboard" if i == 0 else f"leaderboard-{i + 1}"
        body += [f"<h2>{esc(title)}</h2>",
                 table(HEADERS, rows, row_classes=[e.kind for e in group], left_columns=3, table_id=table_id)]
    if notes:
        body.append("<h2>Notes (flags)</h2><ol class=\"notes\">")
        body += [f'<li><b>{esc(model)}</b>: <span class="flag">{esc(flag)}</span></li>' for _, model, flag in notes]
        body.append("</ol>")
    sources = sorted({e.source for e in entries if e.kind == "published"})
    if sources:
        body.append("<h2>Sources</h2><ul>" + "".join(f"<li>{esc(s)}</li>" for s in sources) + "</ul>")
    generated = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return page("VDC leaderboard", "".join(body), subtitle=f"{len(entries)} entries · generated {generated}")


def write_rendered(entries: list[Entry], out_dir: Path) -> tuple[Path, Path]:
    """Write ``leaderboard.md`` and ``leaderboard.html`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md, html_path = out_dir / "leaderboard.md", out_dir / "leaderboard.html"
    atomic_write_text(md, render_markdown(entries))
    atomic_write_text(html_path, render_html(entries))
    return md, html_path
