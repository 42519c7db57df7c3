"""User paths are resolved once, at the entry point, against the directory the command ran from."""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from hydra_ray.cli import build_parser, resolve_path_args
from hydra_ray.config import load_config
from hydra_ray.paths import looks_like_path, resolve_model_ref, resolve_path

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("given,expected", [
    ("runs/out", "/home/u/proj/runs/out"),
    ("./runs/../x", "/home/u/proj/x"),
    ("/abs/dir", "/abs/dir"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
    ("gs://bucket/p", "gs://bucket/p"),
    ("file:///tmp/x", "file:///tmp/x"),
    (None, None),
    ("", ""),
])
def test_resolve_path(given, expected):
    assert resolve_path(given, base="/home/u/proj") == expected


def test_model_refs_keep_hub_ids_and_resolve_local_directories(tmp_path):
    (tmp_path / "models" / "mine").mkdir(parents=True)
    assert resolve_model_ref("Qwen/Qwen2.5-Coder-7B-Instruct", base=tmp_path) == "Qwen/Qwen2.5-Coder-7B-Instruct"
    assert resolve_model_ref("gpt2", base=tmp_path) == "gpt2"
    # "org/name" that exists here is the local directory
    assert resolve_model_ref("models/mine", base=tmp_path) == str(tmp_path / "models" / "mine")
    # path-looking values are paths whether or not they exist yet
    assert resolve_model_ref("./models/new", base=tmp_path) == str(tmp_path / "models" / "new")
    assert resolve_model_ref("runs/a/tiny", base=tmp_path) == str(tmp_path / "runs" / "a" / "tiny")
    assert looks_like_path("~/m") and looks_like_path("a/b/c") and not looks_like_path("org/name")


def test_config_path_fields_from_preset_and_overrides_are_absolute(tmp_path, monkeypatch):
    from hydra_ray.serve.config import load_preset
    from hydra_ray.train.config import TrainConfig

    monkeypatch.chdir(tmp_path)
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml",
                      ["storage_path=shared/ckpt", "heldout_split=splits/x.txt"])
    assert cfg.model.name_or_path == "runs/tiny-model"          # not here: kept, may be a hub id
    (tmp_path / "runs" / "tiny-model").mkdir(parents=True)
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", ["storage_path=shared/ckpt"])
    assert cfg.model.name_or_path == str(tmp_path / "runs" / "tiny-model")
    assert cfg.storage_path == str(tmp_path / "shared" / "ckpt")
    cfg = load_config(TrainConfig, REPO / "configs/train/tiny-cpu.yaml", ["storage_path=s3://b/ckpt"])
    assert cfg.storage_path == "s3://b/ckpt"

    preset = load_preset(REPO / "configs/serve/tiny-cpu.yaml", ["model.training_output=runs/train"])
    assert preset.app.args.model.training_output == str(tmp_path / "runs" / "train")
    # bundled data files named relative to the package stay as they are (looked up there later)
    assert load_preset(REPO / "configs/serve/recorded-demo.yaml").app.args.recorded.path == "demo_completions.jsonl"


def test_cli_path_arguments_are_resolved_before_the_command_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["enrich", "--input", "in.jsonl", "--output", "s3://b/out",
                                      "--config", "configs/enrich/local.yaml"])
    resolve_path_args(args)
    assert args.input == str(tmp_path / "in.jsonl") and args.output == "s3://b/out"
    assert args.config == str(tmp_path / "configs/enrich/local.yaml")
    args = argparse.Namespace(expected=["a.out", "/x/b.out"])
    resolve_path_args(args)
    assert args.expected == [str(tmp_path / "a.out"), "/x/b.out"]


def test_verbose_flag_before_or_after_the_command():
    assert build_parser().parse_args(["-v", "doctor"]).verbose
    assert build_parser().parse_args(["doctor", "-v"]).verbose
    assert not build_parser().parse_args(["doctor"]).verbose


def test_overrides_may_follow_options(tmp_path):
    """`hydra-ray profile prog.py --json profile.repeats=5`, as the README writes it."""
    import json
    import subprocess
    import sys

    (tmp_path / "p.py").write_text("print(1)\n")
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "profile", "p.py", "--json", "profile.repeats=5"],
                       cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr[-2000:]
    row = json.loads(r.stdout)
    assert row["verdict"] == "passed" and row["latency_ms_n"] == 5
    r = subprocess.run([sys.executable, "-m", "hydra_ray.cli", "profile", "p.py", "--bogus"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env={**__import__("os").environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 2 and "unrecognized arguments: --bogus" in r.stderr


def test_an_output_that_is_a_file_is_refused_by_every_command_that_writes_one(tmp_path, capsys):
    from hydra_ray.cli import main

    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    for argv in (["make-tiny-model", "--output", str(afile)],
                 ["simulate-alpha", "--output", str(afile / "sim")],
                 ["label", "--input", str(tmp_path), "--output", str(afile)],
                 ["train", "--input", str(tmp_path), "--output", str(afile / "run"),
                  "--config", str(REPO / "configs/train/tiny-cpu.yaml")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert f"{afile} is a file, not a folder; choose another --output" in err, (argv, err)
        assert "Errno" not in err
    assert afile.read_text() == "not a folder\n"


def test_make_tiny_model_refuses_shapes_it_cannot_build(tmp_path, capsys):
    from hydra_ray.cli import main

    out = tmp_path / "model"
    assert main(["make-tiny-model", "--output", str(out), "--layers", "0", "--vocab-size", "10",
                 "--hidden-size", "24"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and not out.exists()
    assert "--layers: expected an integer >= 1, got 0" in captured.err
    assert "--vocab-size: expected at least 259" in captured.err and "got 10" in captured.err
    assert "--hidden-size: expected a positive multiple of 16, got 24" in captured.err


def test_a_stray_option_after_a_command_shows_that_commands_usage(capsys):
    from hydra_ray.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "--input", "a", "--output", "b", "--steps", "5"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: hydra-ray train ")
    assert "hydra-ray train: error: unrecognized arguments: --steps" in err


def test_a_relative_output_under_ray_job_submit_is_warned_about_in_the_job_log(tmp_path):
    """Under `ray job submit --working-dir .` the driver runs in Ray's unpacked copy of the upload (its
    runtime_env in RAY_JOB_CONFIG_JSON_ENV_VAR): a relative --output lands there and vanishes with it.
    The CLI, run as Ray starts a job's entrypoint, says so on stderr (the job log); absolute outputs,
    URIs and runs outside a job say nothing."""
    import json
    import os
    import subprocess
    import sys

    pkg = tmp_path / "runtime_resources" / "working_dir_files" / "_ray_pkg_0123"
    pkg.mkdir(parents=True)
    job = json.dumps({"runtime_env": {"working_dir": "gcs://_ray_pkg_0123.zip"}, "metadata": {}})

    def label(output: str, in_job: bool = True) -> str:
        env = {k: v for k, v in os.environ.items() if k != "RAY_JOB_CONFIG_JSON_ENV_VAR"}
        env["PYTHONPATH"] = str(REPO)
        if in_job:
            env["RAY_JOB_CONFIG_JSON_ENV_VAR"] = job
        done = subprocess.run([sys.executable, "-m", "hydra_ray", "label", "--input", str(tmp_path / "none"),
                               "--output", output], cwd=pkg, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2   # the input is missing; the warning comes before that error
        return done.stderr

    err = label("runs/labelled")
    assert "warning: --output runs/labelled is inside this job's uploaded working directory" in err
    assert str(pkg / "runs" / "labelled") in err and "absolute path" in err
    for quiet in (label(str(tmp_path / "abs")), label("s3://bucket/out"), label("runs/labelled", in_job=False)):
        assert "warning" not in quiet
