"""The command line's conventions: every option explains itself, shows its default, has one spelling
(kebab-case, or lmms-eval's own for options handed on to it); old spellings still parse, with a note."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from vdc_bench.cli import build_parser, main, subparsers
from vdc_bench.gpu_bench.run import main as gpu_bench_main

# Handed on unchanged to lmms-eval, so spelled as lmms-eval spells them.
LMMS_EVAL_SPELLINGS = {"--model_args", "--gen_kwargs", "--batch_size", "--output_path", "--predict_only"}


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction))]


def test_every_option_of_every_command_has_help_and_one_spelling_convention():
    root = build_parser()
    parsers = [root, *subparsers(root)]
    assert len(parsers) > 15  # the walk reached the nested subcommands (judge serve, data check, ...)
    for parser in parsers:
        for action in _options(parser):
            name = action.option_strings[0] if action.option_strings else action.dest
            assert action.help and action.help != argparse.SUPPRESS, f"{parser.prog} {name}: no help text"
            for option in action.option_strings:
                if option.startswith("--") and option not in LMMS_EVAL_SPELLINGS:
                    assert option == option.lower() and "_" not in option, f"{parser.prog} {option}: not kebab-case"


def test_help_shows_defaults():
    help_text = " ".join(build_parser()._subparsers._group_actions[0].choices["caption"].format_help().split())
    assert "--num-frm NUM_FRM frames sampled uniformly from the video (default: 16)" in help_text
    assert "--num_frm" not in help_text  # deprecated spellings are hidden


@pytest.mark.parametrize("argv, old, dest, value", [
    (["make-checkpoint", "--out", "ckpt"], "--out", "out", Path("ckpt")),
    (["caption", "v.mp4", "--pretrained", "p", "--num_frm", "3"], "--num_frm", "num_frm", 3),  # type kept
    (["leaderboard", "render", "--out-dir=site"], "--out-dir", "out_dir", Path("site")),
])
def test_deprecated_spelling_parses_with_a_one_line_note(argv, old, dest, value, capsys):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"warning: {old} is deprecated; use --" in err[0]


def test_deprecated_spelling_keeps_the_required_check(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["make-checkpoint", "--seed", "1"])
    assert "the following arguments are required: --output" in capsys.readouterr().err


def test_gpu_bench_module_accepts_the_old_spelling_too(capsys):
    with pytest.raises(SystemExit) as exit_:
        gpu_bench_main(["--out", "x", "--dtype", "float64"])  # fails on --dtype, after the rename
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "--out is deprecated; use --output" in err and "invalid choice: 'float64'" in err


def test_verbosity_before_or_after_the_command(capsys):
    assert build_parser().parse_args(["info"]).verbosity == "INFO"
    assert build_parser().parse_args(["--verbosity", "debug", "info"]).verbosity == "DEBUG"
    assert build_parser().parse_args(["info", "--verbosity", "ERROR"]).verbosity == "ERROR"
    assert main(["--verbosity", "ERROR", "data", "check", "--root", "/nonexistent-vdc-root"]) != 0
    assert "error" in capsys.readouterr().err  # errors still shown at the quietest level


def test_the_command_line_starts_without_torch_or_lmms_eval():
    # Every command's parser is built at start-up: one module-level import of lmms-eval (which loads torch and
    # transformers) made every command, `score` included, start at ~760 MB RSS instead of ~120 MB.
    code = ("import sys; from vdc_bench.cli import build_parser; build_parser(); "
            "print(sorted(m for m in ('torch', 'transformers', 'lmms_eval') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
