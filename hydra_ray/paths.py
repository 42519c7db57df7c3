"""User paths, resolved once at the entry point.

Every path a user gives (CLI flags, ``key=value`` overrides, preset fields naming a file or a
directory) is made absolute against the directory the command was run from *before* it reaches a
Ray worker, actor, deployment or job: those run in other working directories (Ray Train workers
in their own session folders), so a relative path there names something else or nothing.

URIs (``s3://``, ``gs://``, ``file://`` …) stay as they are. Model references may also be Hugging
Face hub ids (``org/name``); :func:`resolve_model_ref` keeps those when nothing local matches.

Under ``ray job submit`` the driver runs in the job's working directory (the unpacked
``--working-dir``), so relative paths there name files inside that uploaded copy, and outputs
written to relative paths land in it too (and vanish with it): give absolute paths on the head
node or a shared mount, or URIs, for outputs of cluster jobs.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# A hub id is exactly "name" or "org/name" of these characters (what huggingface_hub accepts).
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def is_uri(value: str) -> bool:
    """``s3://b/k``, ``gs://…``, ``file:///x`` … (anything with a scheme)."""
    return bool(_URI.match(str(value)))


def resolve_path(value: str | os.PathLike | None, base: str | os.PathLike | None = None) -> str | None:
    """Absolute form of a user path, relative to ``base`` (default: the current directory).

    ``None`` and ``""`` pass through (an unset optional field); URIs pass through; ``~`` expands.
    The result is not required to exist: outputs are created later, and inputs are checked with a
    message of their own where they are read.
    """
    if value is None or value == "":
        return value  # type: ignore[return-value]
    text = os.fspath(value)
    if is_uri(text):
        return text
    p = Path(text).expanduser()
    if not p.is_absolute():
        p = Path(base or os.getcwd()) / p
    return os.path.normpath(str(p))


def looks_like_path(value: str) -> bool:
    """Whether a model reference is written as a path rather than a hub id.

    ``./x``, ``../x``, ``/x``, ``~/x``, anything with two or more slashes, or a backslash. A bare
    ``org/name`` is ambiguous: it is a path when it exists locally, else a hub id.
    """
    text = str(value)
    return (text.startswith(("/", "./", "../", "~")) or text.count("/") >= 2 or "\\" in text
            or text in (".", "..") or not _HUB_ID.match(text))


def resolve_model_ref(value: str | None, base: str | os.PathLike | None = None) -> str | None:
    """A model or adapter reference: a local directory (made absolute) or a hub id (kept).

    ``org/name`` that exists under ``base`` is the local directory; one that does not stays a hub
    id, and the loader's error then names both readings (see ``hydra_ray.train.hub``).
    """
    if value is None or value == "" or is_uri(value):
        return value
    local = Path(base or os.getcwd()) / Path(value).expanduser()
    if looks_like_path(value) or local.exists():
        return resolve_path(value, base)
    return value


class OutputExistsError(RuntimeError):
    """An output folder that cannot take this run: a file stands in its place, or it holds an earlier
    run made from different input or config (the message says what differs and what to do)."""


def check_output_dir(out: str | os.PathLike, flag: str = "--output") -> None:
    """Refuse an output path that is, or lies under, a file: found before any work is done, not after."""
    out = Path(out)
    blocker = next((q for q in (out, *out.parents) if q.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise OutputExistsError(f"{flag} {out}: {blocker} is a file, not a folder; choose another {flag}")


def job_working_dir() -> str | None:
    """The unpacked ``--working-dir`` this process runs in under ``ray job submit``, else None.

    Ray hands the job's driver its runtime_env in ``RAY_JOB_CONFIG_JSON_ENV_VAR`` and starts it in
    the unpacked working directory (``…/runtime_resources/working_dir_files/_ray_pkg_<hash>``).
    """
    import json

    try:
        job = json.loads(os.environ.get("RAY_JOB_CONFIG_JSON_ENV_VAR") or "{}")
    except ValueError:
        return None
    runtime_env = job.get("runtime_env") if isinstance(job, dict) else None
    if not (isinstance(runtime_env, dict) and runtime_env.get("working_dir")):
        return None
    return os.getcwd()


def output_in_job_working_dir(typed: str | None, resolved: str | None) -> str | None:
    """A warning when an output given as a relative path lands in the job's uploaded working directory.

    That directory is Ray's cache of the upload: Ray deletes it once no job uses it, and a job
    submitted from a checkout that changed in any way gets another one, so the output vanishes and
    a resubmitted job starts over instead of resuming. The README says to give absolute paths or
    URIs under ``ray job submit``; this says so in the job's log, where the user looks.
    """
    where = job_working_dir()
    if not typed or not resolved or is_uri(typed) or Path(typed).expanduser().is_absolute() or where is None:
        return None
    if os.path.commonpath([os.path.abspath(where), resolved]) != os.path.abspath(where):
        return None
    return (f"--output {typed} is inside this job's uploaded working directory ({resolved}): Ray deletes "
            "that copy when no job uses it any more, and a job submitted from a changed checkout gets a new "
            "one (no resume). Give an absolute path on the head node or a shared mount, or a URI "
            "(README, Paths)")


class UnreadableFile(ValueError):
    """A file a user named that cannot be read as text. ``kind``: directory | missing | encoding | os;
    ``why``: the words after the path ("is a directory", "is not UTF-8 text (byte 0xe9 at offset 7)")."""

    def __init__(self, kind: str, why: str):
        super().__init__(why)
        self.kind, self.why = kind, why


def read_text_file(path: str | os.PathLike) -> str:
    """A user's UTF-8 text file (a program, an input, a tests file), or UnreadableFile saying why not;
    each command words the message around ``why`` with its own option name and remedy."""
    p = Path(path)
    if p.is_dir():
        raise UnreadableFile("directory", "is a directory")
    if not p.is_file():
        raise UnreadableFile("missing", "does not exist")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UnreadableFile("encoding", f"is not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})") \
            from None
    except OSError as e:
        raise UnreadableFile("os", f"cannot be read: {e.strerror}") from None


_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)


def read_python_source(path: str | os.PathLike) -> str:
    """A user's Python program as Python reads it: UTF-8, a leading byte-order mark dropped (Windows
    editors write one; Python runs such a file, and it failed here as "invalid non-printable character
    U+FEFF", a syntax_error). Other encodings are refused: the code is written into the sandbox as UTF-8,
    where a `# coding: latin-1` line would make Python decode it wrongly, so UnreadableFile says so."""
    try:
        return read_text_file(path).removeprefix("\ufeff")
    except UnreadableFile as e:
        if e.kind != "encoding":
            raise
        head = b"\n".join(Path(path).read_bytes().splitlines()[:2])   # PEP 263: the first two lines
        cookie = _CODING.search(head)
        if cookie and cookie.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
            raise UnreadableFile("encoding", f"{e.why}; it declares coding {cookie.group(1).decode()}, and "
                                 "programs are taken as UTF-8 only") from None
        raise
