"""``vdc-bench leaderboard``: add our results, render Markdown + HTML, (re)seed and validate the board."""

from __future__ import annotations

from pathlib import Path

from vdc_bench.cli_options import deprecated_alias
from vdc_bench.leaderboard.board import DEFAULT_BOARD, load_board, reseed_published, save_board
from vdc_bench.leaderboard.from_runs import add_results
from vdc_bench.leaderboard.render import write_rendered


def register(sub) -> None:
    p = sub.add_parser("leaderboard", help="the VDC leaderboard (results/leaderboard.json): add, render, seed")
    p.add_argument("--board", type=Path, default=DEFAULT_BOARD, help="leaderboard JSON (default: %(default)s)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add rows from a scores JSON, an lmms-eval run folder or a sweep folder")
    add.add_argument("path", type=Path, help="scores JSON, lmms-eval run folder or sweep folder")
    add.add_argument("--kind", choices=["run", "demo"], default=None,
                     help="demo marks rows of the tiny random model (default: as recorded by the sweep, else run)")
    add.add_argument("--name", default=None, help="model name to show (single run only; required for a scores "
                     "file that belongs to no lmms-eval run)")
    add.add_argument("--frames", type=int, default=None, help="frames per video, as stated (single row only)")
    add.add_argument("--tokens-per-frame", type=float, default=None,
                     help="visual tokens per frame, as stated (single row only)")
    render = actions.add_parser("render", help="write leaderboard.md and leaderboard.html")
    render.add_argument("--output", dest="out_dir", metavar="DIR", type=Path, default=None,
                        help="folder for leaderboard.md/.html (default: the board's folder)")
    deprecated_alias(render, "--out-dir", "--output")
    actions.add_parser("seed", help="(re)write the published rows from the bundled CSV copies, keep ours")
    actions.add_parser("validate", help="check the board against the schema")
    p.set_defaults(func=run)


def run(args) -> int:
    board: Path = args.board
    if args.action == "add":
        added, replaced = add_results(board, args.path, kind=args.kind, name=args.name, frames=args.frames,
                                      tokens_per_frame=args.tokens_per_frame)
        print(f"{board}: {added} added, {replaced} replaced ({len(load_board(board))} entries)")
        return 0
    entries = load_board(board)
    if args.action == "render":
        if not board.exists():
            save_board(board, entries)
        md, html = write_rendered(entries, args.out_dir or board.parent)
        print(f"markdown: {md}\nhtml: {html}")
    elif args.action == "seed":
        entries = reseed_published(entries)
        save_board(board, entries)
        print(f"{board}: {len(entries)} entries ({sum(e.kind == 'published' for e in entries)} published)")
    else:
        print(f"{board}: valid, {len(entries)} entries")
    return 0
