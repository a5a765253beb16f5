"""``vdc-bench make-checkpoint`` and ``vdc-bench caption`` (same code path as the lmms-eval adapter)."""

from __future__ import annotations

import json

from vdc_bench.cli import main


def test_make_checkpoint_then_caption(tmp_path, model_make_video, capsys):
    out = tmp_path / "ck"
    assert main(["make-checkpoint", "--layout", "hf", "--size", "tiny", "--output", str(out), "--seed", "3"]) == 0
    assert (out / "RANDOM_WEIGHTS.json").is_file() and (out / "model.safetensors").is_file()
    assert json.loads((out / "config.json").read_text())["model_type"] == "llava"
    capsys.readouterr()

    video = model_make_video("clip.MP4", frames=12)
    rc = main(["caption", str(video), "--pretrained", str(out), "--prompt", "What happens?", "--num-frm", "3",
               "--token-kept-ratio", "0.5", "--max-new-tokens", "5"])
    captured = capsys.readouterr()
    assert rc == 0
    report = json.loads(captured.err[captured.err.index("{"):])
    assert report["model"]["random_weights"] and report["model"]["layout"] == "hf"
    assert report["stats"]["frames"] == 3 and report["stats"]["output_tokens"] <= 5
    assert captured.out.strip() or report["stats"]["output_tokens"] > 0


def test_caption_errors_are_one_line(tmp_path, model_tiny_checkpoints, capsys):
    missing = tmp_path / "missing.mp4"
    assert main(["caption", str(missing), "--pretrained", str(model_tiny_checkpoints["xtuner"])]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("vdc-bench caption: error: ") and str(missing) in err
    assert main(["caption", str(missing), "--pretrained", str(tmp_path / "nope")]) == 2
    assert "checkpoint directory not found" in capsys.readouterr().err


def test_make_checkpoint_refuses_non_empty_dir(tmp_path, capsys):
    (tmp_path / "x").write_text("keep me")
    assert main(["make-checkpoint", "--output", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_make_checkpoint_realistic_tiny_tome(tmp_path, capsys):
    from safetensors.torch import load_file

    out = tmp_path / "ck"
    assert main(["make-checkpoint", "--layout", "hf", "--size", "tiny-tome", "--init", "realistic",
                 "--output", str(out)]) == 0
    marker = json.loads((out / "RANDOM_WEIGHTS.json").read_text())
    assert marker["random_weights"] and (marker["size"], marker["init"]) == ("tiny-tome", "realistic")
    assert json.loads((out / "config.json").read_text())["vision_config"]["image_size"] == 84
    weights = load_file(out / "model.safetensors")
    norms = [t for name, t in weights.items() if "layer_norm" in name and name.endswith(".weight")]
    biases = [t for name, t in weights.items() if name.endswith(".bias")]
    # realistic init: no norm weight is all ones and no bias all zeros (a dropped one would go unnoticed)
    assert norms and not any(bool((t == 1).all()) for t in norms)
    assert biases and not any(bool((t == 0).all()) for t in biases)
