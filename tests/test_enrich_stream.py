"""Enrichment at scale: the streamed input (file:line, ledger), the rolling atomic output on pyarrow
filesystems (file://, a local S3 server when moto is installed), compaction and its crash recovery,
and one real run (real Ray, real sandbox) through a file:// output that `label`'s reader then reads."""
import gzip
import json
import socket
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hydra_ray.config import ConfigError, from_dict
from hydra_ray.data.loaders import InputError, load_program_sets
from hydra_ray.enrich.config import EnrichConfig
from hydra_ray.enrich.pipeline import Progress, RollingWriter, run_enrich
from hydra_ray.enrich.rows import arrow_schema
from hydra_ray.enrich.storage import OutputStore, list_inputs, open_location
from hydra_ray.enrich.stream import Ledger, read_file_blocks

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "hydra_ray" / "sample_data" / "pie_sample.jsonl"
QUICK = {"profile": {"warmup": 0, "repeats": 4, "throughput_bursts": 4,
                     "remeasure_unsteady": 0,   # these tests are not about timing: never time a set twice
                     "sandbox": {"wall_time_s": 5, "cpu_time_s": 5}},
         "ray": {"include_dashboard": False, "num_cpus": 2}}


def sample_lines(n: int, start: int = 0) -> list[str]:
    return SAMPLE.read_text().splitlines()[start:start + n]


def rows(sets: list[str]) -> dict[str, list]:
    ids = [p for p in sets for _ in (0, 1)]
    return {"pair_id": ids, "candidate": ["slow", "fast"] * len(sets), "verdict": ["passed"] * len(ids)}


# ---- read: file:line survives streaming -----------------------------------------------------------

def test_read_blocks_keep_file_line_across_blank_lines_gzip_and_parquet(tmp_path):
    import pyarrow.fs as pafs

    fs = pafs.LocalFileSystem()
    lines = [b'{"a": 1}', b"", b"   ", b'{"a": 2}', b'{"a": 3}']
    (tmp_path / "x.jsonl").write_bytes(b"\n".join(lines))                 # no newline at the end
    with gzip.open(tmp_path / "y.jsonl.gz", "wb") as f:
        f.write(b"\n".join(lines) + b"\n")
    pq.write_table(pa.table({"pair_id": ["p1", "p2", "p3"]}), tmp_path / "z.parquet")
    for name, expect in (("x.jsonl", ["x.jsonl:1", "x.jsonl:4", "x.jsonl:5"]),
                         ("y.jsonl.gz", ["y.jsonl.gz:1", "y.jsonl.gz:4", "y.jsonl.gz:5"]),
                         ("z.parquet", ["z.parquet:1", "z.parquet:2", "z.parquet:3"])):
        blocks = list(read_file_blocks(fs, str(tmp_path / name), block_rows=2))
        assert [b.num_rows for b in blocks] == [2, 1], name
        assert sum((b.column("source").to_pylist() for b in blocks), []) == expect
    z = list(read_file_blocks(fs, str(tmp_path / "z.parquet"), 5))[0]
    assert [json.loads(r)["pair_id"] for r in z.column("raw").to_pylist()] == ["p1", "p2", "p3"]


def test_input_listing_errors_name_the_path_and_what_to_give(tmp_path):
    with pytest.raises(InputError, match="does not exist.*JSONL/Parquet"):
        list_inputs(str(tmp_path / "nope.jsonl"), (".jsonl",))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="no .jsonl files"):
        list_inputs(str(tmp_path), (".jsonl",))
    with pytest.raises(InputError, match="unknown format"):
        list_inputs(str(tmp_path / "notes.txt"), (".jsonl",))
    (tmp_path / "a.jsonl").write_text("{}\n")
    fs, files = list_inputs(f"file://{tmp_path}", (".jsonl",))
    assert [Path(p).name for p, _ in files] == ["a.jsonl"]


def test_ledger_drops_duplicates_and_done_ids_and_answers_a_retried_block_the_same():
    ledger = Ledger(["done-1"], limit=None)
    first = ledger.claim("f:1+3", [("a", "f:1"), ("done-1", "f:2"), ("a", "f:3")], [], 3)
    assert first == ["new", "done", "duplicate"]
    again = ledger.claim("f:1+3", [("a", "f:1"), ("done-1", "f:2"), ("a", "f:3")], [], 3)  # a retried task
    assert again == first
    rejects, counts = ledger.drain()
    assert [(r["record_id"], r["source"], r["reason"]) for r in rejects] == [("a", "f:3", "duplicate_id")]
    assert "f:1" in rejects[0]["detail"]
    assert counts["valid"] == 2 and counts["already"] == 1 and counts["to_measure"] == 1
    assert counts["records_read"] == 3 and counts["rejected_by_reason"] == {"duplicate_id": 1}
    limited = Ledger([], limit=1)
    assert limited.claim("g:1+2", [("x", "g:1"), ("y", "g:2")], [], 2) == ["new", "over_limit"]
    assert limited.full()


def test_a_files_blocks_claim_in_their_order_whatever_order_they_arrive_in():
    """Validation runs blocks in parallel (and Ray Data may split a read block), so records 2-3 of a
    file may reach the ledger before records 0-1. They wait for those (of their own file only), so
    the duplicate kept is the first in the file on every run; a block seen before (a retried task)
    does not wait. ``where`` = (file index, number of the block's first record)."""
    import asyncio

    async def scenario():
        ledger = Ledger([], limit=None)
        late = asyncio.ensure_future(ledger.claim_in_order((0, 2), "f:4+2", [("a", "f:4")], [], 2))
        other_file = await ledger.claim_in_order((1, 0), "g:1+1", [("b", "g:1")], [], 1)
        await asyncio.sleep(0.05)
        assert not late.done()                       # still waiting for records 0-1 of file 0
        first = await ledger.claim_in_order((0, 0), "f:1+2", [("a", "f:1")], [], 2)
        assert (first, await late, other_file) == (["new"], ["duplicate"], ["new"])
        assert await ledger.claim_in_order((0, 0), "f:1+2", [("a", "f:1")], [], 2) == ["new"]   # retried
        rejects, counts = ledger.drain()
        assert [r["source"] for r in rejects] == ["f:4"] and counts["blocks_out_of_order"] == 0

    asyncio.run(scenario())


# ---- output: rolling, atomic, compaction, URIs ----------------------------------------------------

def test_rolling_writer_rolls_by_sets_and_by_time_and_leaves_no_temporaries(tmp_path):
    store = OutputStore(f"file://{tmp_path / 'out'}")
    writer = RollingWriter(store, sets_per_file=3, seconds_per_file=0.3)
    for i in range(7):
        writer.add(rows([f"s{i}"]), 1)
    assert len(store.part_files()) == 2                        # 3 + 3 sets; one set waits
    writer.tick()
    assert len(store.part_files()) == 2                        # not old enough yet
    time.sleep(0.35)
    writer.tick()
    assert len(store.part_files()) == 3                        # the minute (here 0.3 s) is up
    assert sorted(store.finished_pair_ids()) == [f"s{i}" for i in range(7)]
    assert not [p for p in (tmp_path / "out" / "data").iterdir() if p.name.endswith(".tmp")]
    # File names order by second, then a random suffix: compare the files' sizes, not their order.
    tables = [pq.read_table(f) for f in store.part_files()]
    assert all(t.schema.equals(arrow_schema()) for t in tables)
    assert sorted(t.num_rows for t in tables) == [2, 6, 6]          # 2 candidate rows a set


def test_stale_temporaries_are_removed_and_an_interrupted_compaction_recovers(tmp_path):
    store = OutputStore(str(tmp_path / "out"))
    writer = RollingWriter(store, sets_per_file=1, seconds_per_file=60)
    for i in range(5):
        writer.add(rows([f"s{i}"]), 1)
    (tmp_path / "out" / "data" / ".part-x.parquet.tmp").write_bytes(b"half a file")
    assert store.clean_temporaries() == 1
    before = store.part_files()
    assert store.compact(target_rows=4, schema=arrow_schema()) == (5, 3)   # 2+2 sets merged, 1 left
    assert sorted(store.finished_pair_ids()) == [f"s{i}" for i in range(5)]
    assert len(store.pair_id_column()) == 10                                  # nothing twice
    # A compaction killed after its new file appeared but before the old ones went: the next run
    # deletes the replaced files (no set twice); killed before the new file appeared: originals stay.
    survivors = store.part_files()
    new = str(tmp_path / "out" / "data" / "part-zz-merged.parquet")
    pq.write_table(pa.concat_tables([pq.read_table(p) for p in survivors]), new)
    (tmp_path / "out" / "data" / "_compaction.json").write_text(json.dumps({"new": new, "replaces": survivors}))
    store.clean_temporaries()
    assert store.part_files() == [new] and len(store.pair_id_column()) == 10
    (tmp_path / "out" / "data" / "_compaction.json").write_text(
        json.dumps({"new": new + ".never", "replaces": [new]}))
    store.clean_temporaries()
    assert store.part_files() == [new] and not (tmp_path / "out" / "data" / "_compaction.json").exists()
    assert before  # (5 files were there before compaction)


def test_output_config_errors_name_field_value_and_expectation():
    with pytest.raises(ConfigError) as e:
        from_dict(EnrichConfig, {"output": {"sets_per_file": 0, "compact": "yes"}, "input": {"block_rows": -1}})
    text = str(e.value)
    assert "OutputConfig.sets_per_file: expected > 0, got 0" in text
    assert "OutputConfig.compact: expected true or false, got 'yes'" in text
    assert "InputConfig.block_rows: expected > 0, got -1" in text


@pytest.fixture
def s3_server():
    moto = pytest.importorskip("moto")
    if tuple(int(x) for x in moto.__version__.split(".")[:3]) < (5, 2, 5):
        pytest.skip(f"moto {moto.__version__} answers CompleteMultipartUpload with the wrong XML root "
                    "(getmoto/moto#10055), which pyarrow rejects; the dev extra pins moto[server]==5.2.5")
    moto_server = pytest.importorskip("moto.server")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.stop()


def test_rolling_output_on_a_local_s3_server(s3_server, monkeypatch):
    import pyarrow.fs as pafs

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(k, v)
    s3 = pafs.S3FileSystem(endpoint_override=s3_server, scheme="http", region="us-east-1", allow_bucket_creation=True)
    s3.create_dir("enriched")                                     # the bucket
    uri = f"s3://enriched/runs/one?endpoint_override={s3_server}&scheme=http&region=us-east-1"
    fs, path = open_location(uri)
    assert isinstance(fs, pafs.S3FileSystem) and path == "enriched/runs/one"
    store = OutputStore(uri)
    writer = RollingWriter(store, sets_per_file=2, seconds_per_file=60)
    for i in range(5):
        writer.add(rows([f"s{i}"]), 1)
    writer.close()
    store.write_text("summary.json", json.dumps({"sets_total": 5}))
    listing = [i.base_name for i in s3.get_file_info(pafs.FileSelector("enriched/runs/one", recursive=True))
               if i.type == pafs.FileType.File]
    assert sorted(n for n in listing if n.startswith("part-")) == sorted(Path(p).name for p in store.part_files())
    assert len(store.part_files()) == 3 and not [n for n in listing if n.endswith(".tmp")]
    assert sorted(OutputStore(uri).finished_pair_ids()) == [f"s{i}" for i in range(5)]   # a resumed run's scan
    with s3.open_input_stream("enriched/runs/one/summary.json") as f:
        assert json.loads(f.read()) == {"sets_total": 5}


# ---- one real run: streamed rejects, a file:// output, resume, label's reader ---------------------

def test_streamed_run_to_a_file_uri_keeps_rejects_rolls_files_and_resumes(tmp_path):
    good = sample_lines(3)
    first = json.loads(good[0])
    messy = [
        good[0], good[1],
        "",                                                              # blank: skipped, line still counted
        json.dumps(first),                                               # duplicate id
        json.dumps(dict(first, pair_id="py2", slow=dict(first["slow"], code="print 'x'\n"))),
        '{"pair_id": "truncated", ',                                     # invalid JSON
        json.dumps(dict(first, pair_id="nt", tests=[])),                 # no tests
        good[2],
        json.dumps(dict(first, pair_id="tol", float_tol="abc")),         # used to stop the whole run
    ]
    inp = tmp_path / "messy.jsonl"
    inp.write_text("\n".join(messy) + "\n")
    out = tmp_path / "out"
    # One record a block: the duplicate at line 4 and the record it repeats (line 1) are validated
    # in parallel, and line 1 must be the one kept on every run.
    cfg = from_dict(EnrichConfig, {**QUICK, "output": {"sets_per_file": 2}, "input": {"block_rows": 1}})
    lines: list[str] = []
    import ray

    ray.init(num_cpus=2, include_dashboard=False)   # one Ray for both runs (run_enrich leaves it up)
    try:
        _first_run_then_resume(inp, out, cfg, lines)
    finally:
        ray.shutdown()


def _first_run_then_resume(inp: Path, out: Path, cfg: EnrichConfig, lines: list[str]) -> None:
    from hydra_ray.prefs.pairs import read_enriched

    summary = run_enrich(inp, f"file://{out}", cfg, emit=lines.append)
    assert summary["sets_total"] == 3 and summary["sets_measured_this_run"] == 3
    assert summary["blocks_claimed_out_of_order"] == 0
    assert summary["files_written_this_run"] == 2 == summary["data_files"]      # 2 sets + 1 set
    rejected = [json.loads(line) for line in (out / "rejected.jsonl").read_text().splitlines()]
    by_source = {r["source"]: r["reason"] for r in rejected}
    assert by_source == {"messy.jsonl:4": "duplicate_id", "messy.jsonl:5": "syntax_error",
                         "messy.jsonl:6": "invalid_json", "messy.jsonl:7": "no_tests", "messy.jsonl:9": "bad_field"}
    # The same rules as the in-memory loader, and the summary counts what the file holds.
    assert summary["rejected_by_reason"] == load_program_sets(inp).reject_counts()
    assert summary["rejected_rows"] == len(rejected) == 5 and summary["records_read"] == 8
    assert json.loads((out / "summary.json").read_text())["sets_total"] == 3
    assert any("3/3 sets" in line for line in lines) and any("3 valid program sets" in line for line in lines)
    df = read_enriched(out)                                                     # what `label` reads
    assert len(df) == 6 and df["pair_id"].nunique() == 3

    again = run_enrich(inp, str(out), cfg, emit=lines.append)                  # resumed, as a plain path
    assert again["sets_measured_this_run"] == 0 and again["sets_done_before_this_run"] == 3
    assert again["rejected_rows"] == 5 and again["sets_total"] == 3
    assert len(pq.read_table(sorted((out / "data").glob("part-*.parquet")), columns=["pair_id"])) == 6
    assert len((out / "rejected.jsonl").read_text().splitlines()) == 5          # rewritten, not appended


@pytest.mark.slow
def test_sigterm_writes_the_buffered_sets_before_the_driver_exits(tmp_path):
    """`ray job stop` and pod shutdowns send SIGTERM: the sets held for the current file are written."""
    import os
    import signal
    import subprocess
    import sys

    import yaml

    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(sample_lines(6, 12)) + "\n")
    out = tmp_path / "out"
    cfg = tmp_path / "quick.yaml"
    cfg.write_text(yaml.safe_dump(QUICK))
    cmd = [sys.executable, "-m", "hydra_ray.cli", "enrich", "--input", str(inp), "--output", str(out),
           "--config", str(cfg), "ray.num_cpus=1", "output.seconds_per_file=3600"]   # nothing rolls by itself
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"})
    seen = 0
    for line in proc.stdout:                           # progress lines: "[enrich] k/6 sets …"
        if line.startswith("[enrich] ") and "/6 sets" in line:
            seen = int(line.split()[1].split("/")[0])
            if seen >= 1:
                break
    assert seen >= 1 and not list((out / "data").glob("part-*.parquet")), "nothing is written before the window ends"
    proc.send_signal(signal.SIGTERM)
    proc.stdout.read()
    assert proc.wait(timeout=120) != 0
    written = set(pq.read_table(sorted((out / "data").glob("part-*.parquet")), columns=["pair_id"])
                  .column("pair_id").to_pylist())
    assert len(written) >= seen and not list((out / "data").glob("*.tmp"))
    summary = run_enrich(inp, out, from_dict(EnrichConfig, QUICK), emit=lambda s: None)
    assert summary["sets_measured_this_run"] == 6 - len(written) and summary["sets_total"] == 6


def test_limit_keeps_the_first_valid_records_in_file_order_across_resume(tmp_path):
    """limit=N (the demo uses it) is "the first N valid records of the input, files in name order",
    the same on every run: here two files, one record a block and two validate tasks, so blocks of
    both files could be in flight together. limit=2 measures s0, s1 (not s2 of the second file, not
    the broken lines, not the duplicate of s0); resuming with limit=3 measures s2 and nothing else."""
    s = sample_lines(4)
    ids = [json.loads(line)["pair_id"] for line in s]
    inp = tmp_path / "in"
    inp.mkdir()
    # 200 broken lines first: one block each, so the second file's task is well under way meanwhile
    (inp / "a.jsonl").write_text("\n".join(['{"truncated": '] * 200 + [s[0], s[1]]) + "\n")
    (inp / "b.jsonl").write_text("\n".join([s[2], s[0], s[3]]) + "\n")
    out = tmp_path / "limited"
    cfg = {**QUICK, "input": {"block_rows": 1, "validate_tasks": 2}}

    def written() -> list[str]:
        table = pq.read_table(sorted((out / "data").glob("part-*.parquet")), columns=["pair_id"])
        return sorted(set(table.column("pair_id").to_pylist()))

    first = run_enrich(inp, out, from_dict(EnrichConfig, {**cfg, "limit": 2}), emit=lambda s: None)
    assert first["sets_total"] == 2 == first["valid_records"]
    assert written() == sorted(ids[:2])
    again = run_enrich(inp, out, from_dict(EnrichConfig, {**cfg, "limit": 3}), emit=lambda s: None)
    assert again["sets_measured_this_run"] == 1 and written() == sorted(ids[:3])


def test_auto_batch_size_is_one_for_small_inputs_and_sixteen_for_large():
    """Sets per actor call: ``auto`` keeps a handful of sets spread over every actor (demo, quick
    looks) and amortizes Ray Data's per-block cost on large inputs; a number is taken as given."""
    from hydra_ray.enrich.config import BYTES_PER_RECORD_GUESS as B, resolve_batch_size

    assert resolve_batch_size("auto", 10_000, None, 2) == 1                 # the sample file
    assert resolve_batch_size("auto", 2_400_000_000, None, 2) == 16         # 1M records
    assert resolve_batch_size("auto", 2_400_000_000, 6, 2) == 1             # limit=6 of a large input
    assert resolve_batch_size("auto", 2 * 32 * 4 * B, None, 2) == 4         # 4 sets a call at 128 sets/actor
    assert resolve_batch_size(3, 10, None, 2) == 3
    assert from_dict(EnrichConfig, {}).batch_size == "auto"
    for bad in (0, -1, 2.5, "big"):
        with pytest.raises(ConfigError, match="batch_size"):
            from_dict(EnrichConfig, {"batch_size": bad})
    with pytest.raises(ConfigError, match="whole number or 'auto', got 'big'"):
        from_dict(EnrichConfig, {"batch_size": "big"})


def test_progress_line_says_reading_before_any_input_and_lists_verdicts_only_once_there_are_some():
    lines: list[str] = []
    progress = Progress(lines.append, every_s=0.0)
    progress.update(force=True)
    assert lines == ["[enrich] reading input ..."]
    progress.update(counts={"to_measure": 3, "already": 1, "records_read": 4, "rejected": 0}, force=True)
    assert lines[-1].startswith("[enrich] 0/3 sets (1 done before)") and "candidates" not in lines[-1]
    progress.update(pairs=1, verdicts=["passed", "wrong_output"], force=True)
    assert lines[-1].startswith("[enrich] 1/3 sets") and lines[-1].endswith("candidates: passed=1 wrong_output=1")


def test_progress_interval_is_the_module_setting_read_when_the_run_starts(monkeypatch):
    """One default: Progress() takes PROGRESS_EVERY_S ($HYDRA_RAY_ENRICH_PROGRESS_S) as it is when a
    run starts, so a test (or a caller) that changes the setting after import is heard."""
    from hydra_ray.enrich import pipeline

    monkeypatch.setattr(pipeline, "PROGRESS_EVERY_S", 0.25)
    assert Progress(lambda s: None).every_s == 0.25
    assert Progress(lambda s: None, every_s=3.0).every_s == 3.0



def test_resume_with_another_measurement_mode_is_refused_and_other_profile_changes_are_noted(tmp_path):
    """A rerun into an output measures only the missing sets: with another profile.mode (or cycles or
    energy backend) its rows would hold other quantities than the ones there (RSS vs RSS growth), so
    it is refused before anything runs; a change of repeats is said, and the run goes on."""
    from hydra_ray.paths import OutputExistsError

    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(sample_lines(2)) + "\n")
    out = tmp_path / "out"
    import ray

    ray.init(num_cpus=2, include_dashboard=False)
    try:
        first = run_enrich(inp, out, from_dict(EnrichConfig, {**QUICK, "limit": 1}), emit=lambda s: None)
        assert first["sets_total"] == 1
        assert json.loads((out / "measurement.json").read_text())["profile"]["mode"] == "inprocess"
        process = {**QUICK, "profile": {**QUICK["profile"], "mode": "process"}}
        with pytest.raises(OutputExistsError, match=r"mode: 'inprocess' → 'process'"):
            run_enrich(inp, out, from_dict(EnrichConfig, process), emit=lambda s: None)
        lines: list[str] = []
        more = {**QUICK, "profile": {**QUICK["profile"], "repeats": 5}, "limit": 1}
        again = run_enrich(inp, out, from_dict(EnrichConfig, more), emit=lines.append)
        assert again["sets_measured_this_run"] == 0
        assert any("note:" in line and "repeats: 4 → 5" in line for line in lines)
    finally:
        ray.shutdown()
    modes = set(pq.read_table(sorted((out / "data").glob("part-*.parquet")), columns=["measure_mode"])
                .column("measure_mode").to_pylist())
    assert modes == {"inprocess"}


def test_actors_that_no_node_can_host_are_explained_in_the_log(tmp_path):
    """configs/enrich/cluster.yaml on a cluster without 'profiler' slots and no autoscaler: the
    actors wait forever. The log says why (once, after HYDRA_RAY_ENRICH_WAIT_NOTE_S without a set)
    instead of only "0/N sets · ETA ?"; SIGTERM then stops the run as usual."""
    import os
    import signal
    import subprocess
    import sys

    import yaml

    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(sample_lines(2)) + "\n")
    cfg = tmp_path / "quick.yaml"
    cfg.write_text(yaml.safe_dump(QUICK))
    cmd = [sys.executable, "-m", "hydra_ray", "enrich", "--input", str(inp), "--output", str(tmp_path / "out"),
           "--config", str(cfg), "placement.mode=require", "placement.num_actors=1"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "HYDRA_RAY_ENRICH_WAIT_NOTE_S": "5"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
    note = None
    deadline = time.monotonic() + 180
    try:
        for line in proc.stdout:
            if "[enrich] waiting:" in line:
                note = line
                break
            assert time.monotonic() < deadline, "no waiting note"
    finally:
        proc.send_signal(signal.SIGTERM)   # also when the note never came: the run would wait forever
        rest = proc.stdout.read()
        code = proc.wait(timeout=120)
    assert code == 143 and "terminated (SIGTERM)" in rest
    assert note and "no profiling actor can start" in note and "0 'profiler'" in note and "placement.mode=auto" in note
