"""Every `hydra-ray …` command written in the READMEs, the presets' first lines and the generated
RayJobs parses with the real CLI, names presets that exist, and its overrides validate.

Docs drift silently: a cluster README that submits `--config configs/train/cluster.yaml` before that
file exists, or forgets `--input`, fails only on somebody's cloud bill. Commands written as templates
(`[--jsonl]`, `a|b`, `…`, `<id>`) are skipped.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from hydra_ray.cli import build_parser

REPO = Path(__file__).resolve().parents[1]
TEMPLATE_MARKS = ("[", "|", "…", "...", "<", "DIR_A", "PATH.jsonl")


def _fenced_code(markdown: str) -> str:
    return "\n".join(re.findall(r"^```[a-z]*\n(.*?)^```", markdown, flags=re.S | re.M))


def _sources() -> dict[str, str]:
    """Where commands are written to be copied: Markdown code blocks, each preset's first line (the
    command that runs it), and the generated RayJobs' entrypoints."""
    texts = {str(p.relative_to(REPO)): _fenced_code(p.read_text())
             for p in (REPO / "README.md", REPO / "clusters" / "README.md")}
    for p in sorted((REPO / "configs").rglob("*.yaml")):
        texts[str(p.relative_to(REPO))] = p.read_text().splitlines()[0]
    for p in sorted((REPO / "clusters" / "kuberay").glob("rayjob-*.yaml")):
        texts[str(p.relative_to(REPO))] = yaml.safe_load(p.read_text())["spec"]["entrypoint"]
    return texts


def documented_commands() -> list[tuple[str, str]]:
    found = []
    for where, text in _sources().items():
        text = re.sub(r"\\\n\s*", " ", text)                 # join shell line continuations
        for line in text.splitlines():
            line = line.strip().lstrip("#$ ").strip()
            for m in re.finditer(r"(?<![\w/.-])hydra-ray ([a-z][a-z-]*)\b([^&;#]*)", line):
                cmd = f"hydra-ray {m.group(1)}{m.group(2)}".strip()
                if any(t in cmd for t in TEMPLATE_MARKS):
                    continue
                found.append((where, cmd))
    return found


COMMANDS = documented_commands()


def test_the_docs_do_document_commands():
    commands = {c.split()[1] for _, c in COMMANDS}
    assert {"enrich", "label", "train", "serve", "evaluate"} <= commands, commands
    assert any(w.startswith("clusters/kuberay/rayjob-train") for w, _ in COMMANDS)


@pytest.mark.parametrize("where,command", COMMANDS, ids=[f"{w}:{c.split()[1]}" for w, c in COMMANDS])
def test_documented_command_parses_and_its_preset_validates(where, command):
    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:
        pytest.fail(f"{where}: `{command}` does not parse (exit {e.code})")
    config = getattr(args, "config", None)
    if not config:
        return
    path = REPO / config
    assert path.is_file(), f"{where}: `{command}` names {config}, which does not exist"
    from hydra_ray.config import load_config
    from hydra_ray.enrich.config import EnrichConfig
    from hydra_ray.prefs.config import LabelConfig
    from hydra_ray.train.config import TrainConfig

    overrides = getattr(args, "overrides", None) or []
    cls = {"enrich": EnrichConfig, "label": LabelConfig, "train": TrainConfig}.get(args.command)
    if cls is not None:
        load_config(cls, path, overrides)
    elif args.command == "serve":
        from hydra_ray.serve.config import load_preset

        load_preset(str(path), overrides)     # Serve's schema plus hydra-ray's own argument checks
    else:
        assert isinstance(yaml.safe_load(path.read_text()), dict)


# ---- the cheap ones run, as written, from a fresh clone -----------------------------------------

CHEAP = {"make-tiny-model", "profile"}


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    import subprocess

    where = tmp_path_factory.mktemp("clone") / "hydra-ray"
    subprocess.run(["git", "clone", "-q", str(REPO), str(where)], check=True, timeout=120)
    # The README's `profile prog.py --input in.txt --expected out.txt`: the user's own files.
    (where / "prog.py").write_text("n = int(input())\nprint(sum(range(n)))\n")
    (where / "in.txt").write_text("1000\n")
    (where / "out.txt").write_text(f"{sum(range(1000))}\n")
    return where


def _run_as_written(command: str, cwd: Path, *extra: str):
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(cwd)}
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "hydra_ray.cli", *shlex.split(command)[1:], *extra], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=300)


RUNNABLE = [(w, c) for w, c in COMMANDS if w == "README.md" and c.split()[1] in CHEAP]


def test_the_cheap_commands_are_found():
    assert {c.split()[1] for _, c in RUNNABLE} == CHEAP, RUNNABLE


@pytest.mark.parametrize("where,command", RUNNABLE, ids=[c.split()[1] for _, c in RUNNABLE])
def test_cheap_documented_command_runs_as_written(clone, where, command):
    r = _run_as_written(command, clone)
    assert r.returncode == 0, f"{where}: `{command}` exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
    if command.split()[1] == "make-tiny-model":
        assert (clone / "runs" / "tiny-model" / "config.json").is_file()
    if command.split()[1] == "profile":
        assert "passed" in r.stdout and "latency" in r.stdout
        # how steady the CPU was while timing, whichever it was (steady, unsteady, or a steady probe
        # beside widely spread samples, which claims no steadiness: a loaded CI machine)
        assert any(said in r.stdout for said in ("CPU steady while timing", "CPU UNSTEADY while timing",
                                                 "CPU speed probe steady")), r.stdout


SERVE_PRESETS = [(w, c) for w, c in COMMANDS if c.split()[1] == "serve" and "recorded-demo" in c]


@pytest.mark.parametrize("where,command", SERVE_PRESETS, ids=[w for w, _ in SERVE_PRESETS])
def test_documented_serve_command_checks_clean(clone, where, command):
    """`serve --check` validates the preset and every file it names, as the replicas will see them."""
    r = _run_as_written(command, clone, "--check")
    assert r.returncode == 0, f"{where}: `{command} --check`:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}"
