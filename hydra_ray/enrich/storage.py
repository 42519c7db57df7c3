"""Where enrichment reads and writes: local paths and ``file://``, ``s3://``, ``gs://`` URIs, all
through ``pyarrow.fs`` so one code path serves a laptop and a cluster bucket.

Output layout (the same on every filesystem)::

    OUTPUT/data/part-<time>-<uuid>.parquet   one rolling file per window of measured sets
    OUTPUT/data/.part-….parquet.tmp          a file being written (renamed when complete)
    OUTPUT/data/_compaction.json             only while a compaction is replacing files
    OUTPUT/rejected.jsonl, OUTPUT/summary.json
    OUTPUT/measurement.json                  the profile settings the sets were measured with (identity.py)

Readers (``label``, pandas, DuckDB) take ``data/part-*.parquet``; a ``.tmp`` never matches.
S3 endpoints and credentials come from the usual AWS variables (``AWS_ENDPOINT_URL``,
``AWS_ACCESS_KEY_ID`` …) or URI query parameters (``s3://b/k?endpoint_override=…``); GCS from
application default credentials.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

PART_PREFIX = "part-"
TMP_SUFFIX = ".tmp"
COMPACTION_MANIFEST = "_compaction.json"


class StorageError(ValueError):
    """An output or input location that cannot be used; the message says which and why."""


def open_location(location: str) -> tuple[Any, str]:
    """(pyarrow FileSystem, path inside it) for a local path or a URI."""
    import pyarrow.fs as pafs

    from hydra_ray.paths import is_uri

    text = str(location)
    if not is_uri(text):
        return pafs.LocalFileSystem(), os.path.abspath(text)
    try:
        fs, path = pafs.FileSystem.from_uri(text)
    except (OSError, ValueError) as e:  # ArrowInvalid is a ValueError
        raise StorageError(f"{text}: pyarrow cannot open this URI ({e}); use a local path, file://, "
                           f"s3:// or gs://") from e
    return fs, path.rstrip("/")


def _join(*parts: str) -> str:
    return "/".join(p.rstrip("/") for p in parts if p)


@dataclass
class OutputStore:
    """An enrichment output directory on some filesystem. Only the driver writes here."""

    location: str

    def __post_init__(self) -> None:
        self.fs, self.root = open_location(self.location)
        self.data = _join(self.root, "data")
        try:
            self.fs.create_dir(self.data, recursive=True)
        except OSError as e:
            raise StorageError(f"--output {self.location}: cannot create {self.data} ({e}); check the path, "
                               f"the bucket's name and your write access") from e

    @property
    def is_local(self) -> bool:
        import pyarrow.fs as pafs

        return isinstance(self.fs, pafs.LocalFileSystem)

    def path(self, name: str) -> str:
        return _join(self.root, name)

    # ---- data files -------------------------------------------------------------------------------

    def _listing(self):
        import pyarrow.fs as pafs

        return [i for i in self.fs.get_file_info(pafs.FileSelector(self.data, allow_not_found=True))
                if i.type == pafs.FileType.File]

    def part_files(self) -> list[str]:
        return sorted(i.path for i in self._listing()
                      if i.base_name.startswith(PART_PREFIX) and i.base_name.endswith(".parquet"))

    def clean_temporaries(self) -> int:
        """Remove ``.tmp`` files a killed run left half-written; finish or undo an interrupted compaction."""
        self._recover_compaction()
        stale = [i.path for i in self._listing() if i.base_name.endswith(TMP_SUFFIX)]
        for p in stale:
            self.fs.delete_file(p)
        return len(stale)

    def finished_pair_ids(self) -> set[str]:
        """Ids already in the output: only the ``pair_id`` column is read, file by file."""
        return set(self.pair_id_column().to_pylist())

    def pair_id_column(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        chunks = []
        for p in self.part_files():
            chunks.extend(pq.read_table(p, columns=["pair_id"], filesystem=self.fs).column("pair_id").chunks)
        return pa.chunked_array(chunks, type=pa.string())

    def write_part(self, table) -> str:
        """Write one Parquet file atomically: a temporary name, then a rename (a copy + delete on
        object stores, where the final object still appears whole or not at all)."""
        import pyarrow.parquet as pq

        name = f"{PART_PREFIX}{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}.parquet"
        final = _join(self.data, name)
        tmp = _join(self.data, f".{name}{TMP_SUFFIX}")
        pq.write_table(table, tmp, filesystem=self.fs)
        self.fs.move(tmp, final)
        return final

    # ---- small files ------------------------------------------------------------------------------

    def write_text(self, name: str, text: str) -> None:
        tmp = self.path(f".{name}{TMP_SUFFIX}")
        with self.fs.open_output_stream(tmp, compression=None) as f:
            f.write(text.encode())
        self.fs.move(tmp, self.path(name))

    def read_text(self, name: str) -> str | None:
        """OUTPUT/name as text, or None when it is not there."""
        import pyarrow.fs as pafs

        path = self.path(name)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return None
        with self.fs.open_input_stream(path, compression=None) as f:
            return f.read().decode(errors="replace")

    def upload(self, local_file: str, name: str) -> None:
        """Copy a local file (e.g. the rejected rows spooled during the run) to OUTPUT/name atomically."""
        tmp = self.path(f".{name}{TMP_SUFFIX}")
        with open(local_file, "rb") as src, self.fs.open_output_stream(tmp, compression=None) as dst:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                dst.write(chunk)
        self.fs.move(tmp, self.path(name))

    # ---- compaction -------------------------------------------------------------------------------

    def compact(self, target_rows: int, schema) -> tuple[int, int]:
        """Merge files smaller than ``target_rows`` rows into files of about that size.

        Crash-safe: a manifest naming the new file and the files it replaces is written first; the
        next run (``clean_temporaries``) deletes the replaced files if the new one exists, or drops
        the manifest if it does not, so no set is ever in the output twice or lost.
        Returns (files before, files after).
        """
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = self.part_files()
        small = [(p, pq.ParquetFile(p, filesystem=self.fs).metadata.num_rows) for p in files]
        small = [(p, n) for p, n in small if n < target_rows]
        groups, cur, rows = [], [], 0
        for p, n in small:
            cur.append(p)
            rows += n
            if rows >= target_rows:
                groups.append(cur)
                cur, rows = [], 0
        if len(cur) > 1:
            groups.append(cur)
        for group in (g for g in groups if len(g) > 1):
            table = pa.concat_tables([pq.read_table(p, filesystem=self.fs, schema=schema) for p in group])
            name = f"{PART_PREFIX}{time.strftime('%Y%m%d%H%M%S')}-c{uuid.uuid4().hex[:8]}.parquet"
            manifest = {"new": _join(self.data, name), "replaces": group}
            self._write_manifest(manifest)
            tmp = _join(self.data, f".{name}{TMP_SUFFIX}")
            pq.write_table(table, tmp, filesystem=self.fs)
            self.fs.move(tmp, manifest["new"])
            self._finish_compaction(manifest)
        return len(files), len(self.part_files())

    def _write_manifest(self, manifest: dict) -> None:
        path = _join(self.data, COMPACTION_MANIFEST)
        with self.fs.open_output_stream(path + TMP_SUFFIX, compression=None) as f:
            f.write(json.dumps(manifest).encode())
        self.fs.move(path + TMP_SUFFIX, path)

    def _finish_compaction(self, manifest: dict) -> None:
        import pyarrow.fs as pafs

        for p in manifest["replaces"]:
            if self.fs.get_file_info(p).type == pafs.FileType.File:
                self.fs.delete_file(p)
        self.fs.delete_file(_join(self.data, COMPACTION_MANIFEST))

    def _recover_compaction(self) -> None:
        import pyarrow.fs as pafs

        path = _join(self.data, COMPACTION_MANIFEST)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return
        with self.fs.open_input_stream(path, compression=None) as f:
            manifest = json.loads(f.read().decode())
        if self.fs.get_file_info(manifest["new"]).type == pafs.FileType.File:
            self._finish_compaction(manifest)  # the merged file is complete: drop what it replaced
        else:
            self.fs.delete_file(path)          # it never appeared: the originals stay


def list_inputs(location: str, suffixes: Iterable[str]) -> tuple[Any, list[tuple[str, int]]]:
    """(filesystem, [(path, size in bytes)]) of the input files at a path or URI, sorted."""
    import pyarrow.fs as pafs

    from hydra_ray.data.loaders import InputError

    suffixes = tuple(suffixes)
    try:
        fs, path = open_location(location)
        info = fs.get_file_info(path)
    except (StorageError, OSError) as e:
        raise InputError(f"input {location}: cannot be read ({e})") from e
    if info.type == pafs.FileType.Directory:
        found = [(i.path, i.size) for i in fs.get_file_info(pafs.FileSelector(path, recursive=True))
                 if i.type == pafs.FileType.File and i.base_name.endswith(suffixes)
                 and not i.base_name.startswith(".")]
        if not found:
            raise InputError(f"{location} is a directory with no {', '.join(suffixes)} files")
        return fs, sorted(found)
    if info.type == pafs.FileType.NotFound:
        raise InputError(f"input {location} does not exist; give a JSONL/Parquet file or a directory of them "
                         "(e.g. hydra_ray/sample_data/pie_sample.jsonl)")
    if not info.base_name.endswith(suffixes):
        raise InputError(f"input {location}: unknown format; expected one of {', '.join(suffixes)}")
    return fs, [(info.path, info.size)]
