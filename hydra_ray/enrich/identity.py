"""What an enrichment output was measured with, so that a resumed run cannot silently mix settings.

A rerun into an existing ``--output`` measures only the sets not there yet. If it asks for other
``profile`` settings, the new rows sit beside the old ones in one dataset. Some settings change what
a column *means*: ``profile.mode`` (``process`` memory is whole-process RSS, ``inprocess`` RSS growth
over a fork point, ``function`` a tracemalloc peak; process latency includes interpreter start-up),
``cycles_backend`` and ``energy_backend`` (valgrind instruction counts vs perf cycles vs an estimate).
Mixing those makes the dataset's figures incomparable across sets, and ``label``'s dataset-wide
normalisation (``normalization: paper``) would standardise unlike quantities together: such a resume
is refused, naming what changed. The other ``profile`` fields (repeats, warm-up, limits, …) change
only how precisely or how patiently the same quantities are measured: the run goes on and says which.

The settings are recorded in ``OUTPUT/measurement.json`` when a run starts (``summary.json`` is
written only at the end of a run or when it is stopped, so a run killed before then would otherwise
leave nothing to compare with). Outputs written before this file existed fall back to
``summary.json``'s ``config``, which a stopped run's summary (``"finished": false``) holds too.
"""
from __future__ import annotations

import json
from typing import Any, Callable

from hydra_ray.paths import OutputExistsError
from hydra_ray.run_identity import changed_fields

RECORD = "measurement.json"
# profile fields whose change alters what a metric column holds (see the module docstring)
MEANING = ("mode", "cycles_backend", "energy_backend")


def _recorded(store) -> dict[str, Any] | None:
    """The ``profile`` settings the output was measured with, or None when nothing says."""
    readers = ((RECORD, lambda d: d.get("profile")),
               ("summary.json", lambda d: (d.get("config") or {}).get("profile")))
    for name, pick in readers:
        text = store.read_text(name)
        if text is None:
            continue
        try:
            profile = pick(json.loads(text))
        except (ValueError, AttributeError):
            continue
        if isinstance(profile, dict):
            return profile
    return None


def check_and_record(store, profile: dict[str, Any], has_rows: bool,
                     emit: Callable[[str], None] = print) -> None:
    """Refuse a resume whose ``profile`` changes what the columns mean; note other changes; record
    the settings for the next run. ``has_rows``: the output already holds measured sets."""
    before = _recorded(store) if has_rows else None
    if before is not None:
        meaning = changed_fields({k: before.get(k) for k in MEANING}, {k: profile.get(k) for k in MEANING})
        if meaning:
            raise OutputExistsError(
                f"{store.location} holds sets measured with other measurement settings ({'; '.join(meaning)}); "
                "a resume would mix unlike quantities in one dataset. Rerun with the settings it was "
                "measured with to resume it, or choose another --output")
        other = changed_fields(before, profile)
        if other:
            emit(f"[enrich] note: {store.location} was measured with other profile settings "
                 f"({'; '.join(other)}); the sets measured now use the new ones (rows record their own "
                 "repeats and timing rounds)")
    if before is None or before != profile:
        store.write_text(RECORD, json.dumps({"profile": profile}, indent=2))
