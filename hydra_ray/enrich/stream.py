"""The input side of enrichment as a Ray Data stream: read → validate → (dedupe, resume) → actors.

* **Read** (:class:`LinesDatasource`): one read task per input file streams blocks of
  ``input.block_rows`` raw records with their ``file:line`` (JSONL, optionally gzipped) or
  ``file:row`` (Parquet, row groups in order). Ray Data's ``read_json`` cannot say which line a
  record came from, so rejects would lose their place; this datasource keeps it. A file is read by one
  task, in order (line numbers need that); several files are read in parallel.
* **Validate** (:func:`validate_block`): a distributed ``map_batches``: UTF-8, JSON, fields, Python 3
  syntax and float-tolerance flags, with :func:`hydra_ray.data.loaders.parse_record` (the same rules as
  ``load_program_sets``). Only valid, new program sets continue, as rows of :func:`program_set_schema`.
* **Ledger** (:class:`Ledger`, one async actor on the driver's node): holds the set of pair ids — the
  only per-record state the run keeps — to drop duplicates (the first record of a file is kept: a
  file's blocks claim in their order, :meth:`Ledger.claim_in_order`, however validation interleaves
  them; across files, whichever file's block claims first, and with ``limit=`` files in name order)
  and sets already in the output (resume). Rejected rows wait there until the driver drains
  them into ``rejected.jsonl``. With ``limit=N`` one task reads and validates the files in order
  (:func:`read_in_order`), so the N sets are the first N valid records on every run. A retried
  block (a node died) claims the same ids from the same ``file:line`` again and gets the same answer,
  and its rejects are not counted twice.

Neither the records nor their code ever pass through the driver.
"""
from __future__ import annotations

import json
from collections import Counter
from typing import Any, Iterator

from hydra_ray.data.schema import Rejected, RejectReason
from hydra_ray.enrich.inflight import Board


def raw_schema():
    """A raw block: each record's ``file:line`` and bytes, and where it stands in the input:
    ``file_index`` in the sorted file list, ``record`` its number among the file's records (from 0).
    Ray Data may split a read block further; the numbers still say what comes first."""
    import pyarrow as pa

    return pa.schema([("source", pa.string()), ("raw", pa.binary()), ("file_index", pa.int32()),
                      ("record", pa.int64())])


def program_set_schema():
    """The rows the profiling actors get: ``ProgramSet.to_row()`` with explicit types."""
    import pyarrow as pa

    return pa.schema([("pair_id", pa.string()), ("problem_id", pa.string()), ("source", pa.string()),
                      ("float_tol", pa.float64()), ("candidate_names", pa.list_(pa.string())),
                      ("candidate_codes", pa.list_(pa.string())), ("test_inputs", pa.list_(pa.string())),
                      ("test_expected", pa.list_(pa.string()))])


# ---- read ------------------------------------------------------------------------------------------

def _lines(stream, chunk: int = 1 << 20) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) of a byte stream, blank lines skipped but counted."""
    lineno, rest = 0, b""
    while True:
        buf = stream.read(chunk)
        if not buf:
            break
        parts = (rest + buf).split(b"\n")
        rest = parts.pop()
        for line in parts:
            lineno += 1
            if line.strip():
                yield lineno, line
    if rest.strip():
        yield lineno + 1, rest


def read_file_blocks(fs, path: str, block_rows: int, file_index: int = 0) -> Iterator[Any]:
    """Blocks (pyarrow Tables of :func:`raw_schema`) of one input file, in file order."""
    import posixpath

    import pyarrow as pa

    name = posixpath.basename(path)
    schema = raw_schema()

    start = [0]

    def block(sources: list[str], raws: list[bytes]):
        n, first = len(sources), start[0]
        start[0] += n
        return pa.Table.from_arrays([pa.array(sources, pa.string()), pa.array(raws, pa.binary()),
                                     pa.array([file_index] * n, pa.int32()), pa.array(range(first, first + n), pa.int64())],
                                    schema=schema)

    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        row = 0
        for batch in pq.ParquetFile(fs.open_input_file(path)).iter_batches(batch_size=block_rows):
            records = batch.to_pylist()
            yield block([f"{name}:{row + i + 1}" for i in range(len(records))],
                        [json.dumps(r, default=str).encode() for r in records])
            row += len(records)
        return
    compression = "gzip" if name.endswith(".gz") else None
    with fs.open_input_stream(path, compression=compression) as f:
        sources, raws = [], []
        for lineno, line in _lines(f):
            sources.append(f"{name}:{lineno}")
            raws.append(line)
            if len(raws) >= block_rows:
                yield block(sources, raws)
                sources, raws = [], []
        if raws:
            yield block(sources, raws)


def read_in_order(fs, files: list[tuple[str, int]], block_rows: int, ledger) -> Iterator[Any]:
    """``limit=N``: every file in order, each block validated and claimed before the next is read, so
    "the first N valid records" are the same records on every run (and on resume), and reading stops
    at the limit instead of running ahead of it."""
    import ray

    for index, (path, _) in enumerate(files):
        for raw in read_file_blocks(fs, path, block_rows, index):
            yield validate_block(raw, ledger)
            if ray.get(ledger.full.remote()):
                return


def make_datasource(fs, files: list[tuple[str, int]], block_rows: int, ledger=None):
    """A Ray Data datasource reading ``files`` (from :func:`storage.list_inputs`): one task per file,
    raw blocks for the distributed validation; with ``ledger`` (``limit=``) one task over all files
    that validates in file order (:func:`read_in_order`) and yields program sets."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    class LinesDatasource(Datasource):
        def estimate_inmemory_data_size(self):
            return sum(size for _, size in files)

        def get_read_tasks(self, parallelism: int, per_task_row_limit=None, data_context=None):
            if ledger is not None:
                meta = BlockMetadata(num_rows=None, size_bytes=sum(s for _, s in files), exec_stats=None,
                                     input_files=[p for p, _ in files])
                return [ReadTask(lambda: read_in_order(fs, files, block_rows, ledger), meta,
                                 schema=program_set_schema())]
            tasks = []
            for index, (path, size) in enumerate(files):
                meta = BlockMetadata(num_rows=None, size_bytes=size, exec_stats=None, input_files=[path])
                tasks.append(ReadTask(lambda p=path, i=index: read_file_blocks(fs, p, block_rows, i), meta,
                                      schema=raw_schema()))
            return tasks

        def get_name(self) -> str:
            return "HydraInput"

    return LinesDatasource()


# ---- validate --------------------------------------------------------------------------------------

def validate_block(batch, ledger) -> Any:
    """``map_batches`` function: raw records in, valid new program sets out (rejects go to the ledger)."""
    import pyarrow as pa
    import ray

    from hydra_ray.data.loaders import parse_record

    sources = batch.column("source").to_pylist()
    raws = batch.column("raw").to_pylist()
    rejected: list[dict] = []
    valid: list[dict] = []
    for src, raw in zip(sources, raws):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            rejected.append(Rejected(src, src, RejectReason.INVALID_UTF8, f"byte {e.start}: {e.reason}").to_row())
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            rejected.append(Rejected(src, src, RejectReason.INVALID_JSON, f"{e.msg} at column {e.colno}").to_row())
            continue
        try:
            record, rejects = parse_record(obj, src)
        except Exception as e:  # noqa: BLE001 - a record the rules did not foresee
            # An exception here would fail the Ray Data task and with it the whole run, naming no
            # record; one bad record must only ever cost itself.
            rid = obj.get("pair_id") or obj.get("id") or src if isinstance(obj, dict) else src
            rejected.append(Rejected(str(rid), src, RejectReason.BAD_FIELD,
                                     f"could not be validated: {type(e).__name__}: {e}"[:300]).to_row())
            continue
        rejected.extend(r.to_row() for r in rejects)
        if record is not None:
            valid.append(record.to_row())
    if not sources:
        return pa.Table.from_pylist([], schema=program_set_schema())
    where = (batch.column("file_index")[0].as_py(), batch.column("record")[0].as_py())
    status = ray.get(ledger.claim_in_order.remote(where, f"{sources[0]}+{len(sources)}",
                                                  [(r["pair_id"], r["source"]) for r in valid], rejected, len(sources)))
    keep = [r for r, s in zip(valid, status) if s == "new"]
    schema = program_set_schema()
    return pa.Table.from_pylist(keep, schema=schema)


# ---- ledger ----------------------------------------------------------------------------------------

class Ledger:
    """Pair ids of this run and of the output so far, rejected rows waiting to be written, counts."""

    ORDER_WAIT_S = 300.0    # longest a block waits for the blocks before it (then it claims anyway)

    def __init__(self, done_ids, limit: int | None = None):
        self.done = set(done_ids.to_pylist() if hasattr(done_ids, "to_pylist") else done_ids)  # Arrow or list
        self.claimed: dict[str, str] = {}     # pair id → file:line of the record kept
        self.blocks: set[str] = set()
        self.limit = limit
        self.valid = 0                        # valid records within the limit (new + already done)
        self.already = 0                      # of which in the output before this run
        self.records_read = 0
        self.pending_rejects: list[dict] = []
        self.reject_counts: Counter[str] = Counter()
        self.next_record: dict[int, int] = {}  # file index → the record whose block claims next
        self._turn = None                     # asyncio.Condition, made in the actor's event loop
        self.out_of_order = 0                 # blocks that gave up waiting (a lost block, not expected)
        self.board = Board()                  # what each worker's set in flight is doing (inflight.py)

    async def claim_in_order(self, where: tuple[int, int], block_key: str, ids: list[tuple[str, str]],
                             rejected: list[dict], n_read: int) -> list[str]:
        """:meth:`claim`, one file's blocks in their order: blocks are validated in parallel and arrive
        in any order, and waiting for the earlier ones makes "the first record of a file is kept" hold
        on every run. ``where`` = (file index, number of the block's first record in the file). Ray Data
        dispatches a file's blocks in order, so the ones waited for are already running; a retried
        block (seen before) does not wait."""
        import asyncio

        file_index, first = where
        if self._turn is None:
            self._turn = asyncio.Condition()
        async with self._turn:
            try:
                await asyncio.wait_for(self._turn.wait_for(lambda: self.next_record.get(file_index, 0) >= first),
                                       timeout=self.ORDER_WAIT_S)
            except asyncio.TimeoutError:
                self.out_of_order += 1
            out = self.claim(block_key, ids, rejected, n_read)
            self.next_record[file_index] = max(self.next_record.get(file_index, 0), first + n_read)
            self._turn.notify_all()
        return out

    def claim(self, block_key: str, ids: list[tuple[str, str]], rejected: list[dict], n_read: int) -> list[str]:
        """One status per (id, source): ``new`` (measure it), ``done`` (in the output already),
        ``duplicate`` (another record has the id) or ``over_limit``."""
        first_time = block_key not in self.blocks
        self.blocks.add(block_key)
        out: list[str] = []
        for pid, src in ids:
            owner = self.claimed.get(pid)
            if owner == src:
                out.append("done" if pid in self.done else "new")   # a retried block: same answer
            elif owner is not None:
                out.append("duplicate")
                if first_time:
                    rejected.append(Rejected(pid, src, RejectReason.DUPLICATE_ID,
                                             f"the record at {owner} has the same id; that one is kept").to_row())
            elif self.limit is not None and self.valid >= self.limit:
                out.append("over_limit")
            else:
                self.claimed[pid] = src
                self.valid += 1
                if pid in self.done:
                    self.already += 1
                    out.append("done")
                else:
                    out.append("new")
        if first_time:
            self.records_read += n_read
            self.pending_rejects.extend(rejected)
            self.reject_counts.update(r["reason"] for r in rejected)
        return out

    def full(self) -> bool:
        return self.limit is not None and self.valid >= self.limit

    def report(self, worker: str, seq: int, state: dict | None) -> None:
        """A worker's set in flight (:class:`hydra_ray.enrich.inflight.SetProgress`)."""
        self.board.report(worker, seq, state)

    def drain(self) -> tuple[list[dict], dict[str, Any]]:
        """Rejected rows not yet handed out, and the counts so far (with the sets in flight)."""
        rows, self.pending_rejects = self.pending_rejects, []
        return rows, dict(self.counts(), in_flight=self.board.states())

    def counts(self) -> dict[str, Any]:
        return {"valid": self.valid, "already": self.already, "to_measure": self.valid - self.already,
                "records_read": self.records_read, "rejected": sum(self.reject_counts.values()),
                "rejected_by_reason": dict(self.reject_counts), "blocks_out_of_order": self.out_of_order}
