"""Typed configuration: dataclasses validated on construction, YAML presets, dotted overrides.

Every component has one dataclass deriving from :class:`Config`. A subclass implements
``_check(errors)`` and appends one message per problem, so a user sees all mistakes at once::

    @dataclass
    class SandboxLimits(Config):
        wall_time_s: float = 10.0

        def _check(self, errors):
            positive(errors, "wall_time_s", self.wall_time_s)

Presets are YAML files; ``load_config(EnrichConfig, "configs/enrich/local.yaml", ["sandbox.wall_time_s=5"])``
reads one, applies ``key=value`` overrides (values parsed as YAML scalars) and validates the result.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Sequence, TypeVar

import yaml

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """One or more configuration problems; ``problems`` lists them, each naming its field."""

    def __init__(self, problems: Sequence[str], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} configuration problem(s){where}:\n{lines}")

    def __reduce__(self):
        # Raised inside Ray workers too: unpickle with the problem list, not the formatted message.
        return (type(self), (self.problems, self.source))


@dataclasses.dataclass
class Config:
    """Base class: validates on construction and reports every problem together."""

    def __post_init__(self) -> None:
        errors: list[str] = []
        self._check(errors)
        if errors:
            raise ConfigError(_named(type(self), errors))

    def _check(self, errors: list[str]) -> None:  # pragma: no cover - overridden
        pass

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)


# ---- small validators used by the component configs -------------------------------------------

def _as_text_hint(value: Any) -> str:
    """YAML reads ``1e9`` as text (its exponent notation needs a decimal point), so say so."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    return " (YAML read it as text: write the number in full)"


def positive(errors: list[str], name: str, value: float, *, allow_zero: bool = False) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        errors.append(f"{name}: expected a number, got {value!r}{_as_text_hint(value)}")
    elif value < 0 or (value == 0 and not allow_zero):
        errors.append(f"{name}: expected {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def integer_at_least(errors: list[str], name: str, value: Any, lo: int) -> None:
    """A count (steps, replicas, repeats): a whole number, not a bool, at least ``lo``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < lo:
        errors.append(f"{name}: expected an integer >= {lo}, got {value!r}")


def in_range(errors: list[str], name: str, value: float, lo: float, hi: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        errors.append(f"{name}: expected a number in [{lo}, {hi}], got {value!r}{_as_text_hint(value)}")


def one_of(errors: list[str], name: str, value: Any, choices: Iterable[Any]) -> None:
    choices = list(choices)
    if value not in choices:
        errors.append(f"{name}: expected one of {choices}, got {value!r}")


# ---- fields that name files ---------------------------------------------------------------------

def path_field(default: Any = None, *, kind: str = "path") -> Any:
    """A field naming a file or directory, made absolute when the config is loaded at the entry
    point (see :func:`resolve_config_paths`). ``kind``: ``path`` (a local path or a URI), ``model``
    (a local directory or a Hugging Face hub id), ``data`` (made absolute only where it exists here:
    else looked up inside the package, e.g. bundled recordings)."""
    return dataclasses.field(default=default, metadata={"path": kind})


def resolve_config_paths(cfg: C, base: str | Path | None = None) -> C:
    """A copy of ``cfg`` whose path fields are absolute against ``base`` (default: the working
    directory the command was run from), so that Ray workers, actors and replicas, which run in
    other working directories, read the same files. URIs and hub ids are kept."""
    from hydra_ray.paths import resolve_model_ref, resolve_path

    changes: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        kind = f.metadata.get("path")
        if isinstance(value, Config):
            new = resolve_config_paths(value, base)
            if new is not value:
                changes[f.name] = new
        elif isinstance(value, list) and any(isinstance(v, Config) for v in value):
            items = [resolve_config_paths(v, base) if isinstance(v, Config) else v for v in value]
            if any(a is not b for a, b in zip(items, value)):
                changes[f.name] = items
        elif kind and isinstance(value, str) and value:
            if kind == "model":
                new = resolve_model_ref(value, base)
            elif kind == "data":
                here = Path(base or Path.cwd()) / Path(value).expanduser()
                new = resolve_path(value, base) if here.exists() else value
            else:
                new = resolve_path(value, base)
            if new != value:
                changes[f.name] = new
    # dataclasses.replace re-validates, which is what we want for the new values too.
    return dataclasses.replace(cfg, **changes) if changes else cfg


# ---- building dataclasses from plain dicts ------------------------------------------------------

def _coerce(tp: Any, value: Any, path: str, errors: list[str]) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            errors.append(f"{path}: expected a mapping of {tp.__name__} fields, got {value!r}")
            return None
        return _build(tp, value, path, errors)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(inner[0], value, path, errors) if len(inner) == 1 else value
    if tp is bool and not isinstance(value, bool):
        # Unchecked, any text is truthy: `dpo.bf16=maybe` or `identity_baseline=flase` would mean true.
        errors.append(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float):   # a count (repeats, steps) cannot be 2.5; 4.0 is 4
        if value.is_integer():
            return int(value)
        errors.append(f"{path}: expected a whole number, got {value!r}")
        return value
    if origin in (list, tuple) and isinstance(value, str):
        # Checked item by item, a bare word would be read as its letters: one error naming the list form.
        errors.append(f"{path}: expected a list (e.g. {path}=[{value}]), got {value!r}")
        value = [value]   # checked on as that list, so the other checks neither fail on it nor repeat it
    if origin in (list, tuple) and isinstance(value, (list, tuple)):
        (arg, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(arg, v, f"{path}[{i}]", errors) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict and isinstance(value, dict):
        _, arg = typing.get_args(tp) or (Any, Any)
        return {k: _coerce(arg, v, f"{path}.{k}", errors) for k, v in value.items()}
    return value


def _named(cls: type, problems: Iterable[str], prefix: str = "") -> list[str]:
    """``Class.field: …`` as a config's own check names a problem, under the section it sits in."""
    return [f"{prefix + ': ' if prefix else ''}{cls.__name__}.{p}" for p in problems]


_STAND_IN = "_hydra_stand_in"


def _stand_in(cls: type[C], kwargs: dict[str, Any]) -> C:
    """An unvalidated ``cls`` holding ``kwargs`` (defaults elsewhere): what a section that failed its
    own checks looks like to the checks of the config around it, so those run and report too."""
    obj = object.__new__(cls)
    for f in dataclasses.fields(cls):
        if f.name in kwargs:
            value = kwargs[f.name]
        elif f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            factory = f.default_factory
            # A section's default may not validate alone (train's model needs a name): a stand-in too.
            value = _stand_in(factory, {}) if isinstance(factory, type) and issubclass(factory, Config) else factory()
        else:
            value = None
        object.__setattr__(obj, f.name, value)
    object.__setattr__(obj, _STAND_IN, True)
    return obj


def _section_failed(value: Any, hint: Any) -> bool:
    return getattr(value, _STAND_IN, False) or (value is None and dataclasses.is_dataclass(hint))


def _check_stand_in(obj: Config, prefix: str, errors: list[str], typed: dict[str, list[str]]) -> None:
    found: list[str] = []
    try:
        obj._check(found)
    except (AttributeError, TypeError, ValueError, KeyError):
        pass   # a check reading a failed section's values cannot judge them; that section said what is wrong
    _drop_repeated(errors, typed, found)
    errors.extend(_named(type(obj), found, prefix))


def _scalar(tp: Any) -> bool:
    """A field of one value (int, bool, Optional[int], …): not a section, list or mapping."""
    args = [a for a in typing.get_args(tp) if a is not type(None)] \
        if typing.get_origin(tp) in (typing.Union, types.UnionType) else [tp]
    return len(args) == 1 and not dataclasses.is_dataclass(args[0]) \
        and typing.get_origin(args[0]) not in (list, tuple, dict) and args[0] not in (list, tuple, dict)


def _drop_repeated(errors: list[str], typed: dict[str, list[str]], problems: Iterable[str], named: str = "") -> None:
    """Take out of ``errors`` the type errors of the fields the check's ``problems`` (``field: …``, or
    ``Class.field: …`` once named) speak about too."""
    problems = list(problems)
    for field, own in typed.items():
        if any(p.startswith(f"{named}{field}: ") for p in problems):
            for e in own:
                errors.remove(e)


def _build(cls: type[C], data: dict[str, Any], prefix: str, errors: list[str]) -> C | None:
    """``cls`` from ``data``, or a stand-in (:func:`_stand_in`) or None when it has problems, which go to
    ``errors``: those of every section and of the fields around them, in one go."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs: dict[str, Any] = {}
    # A scalar whose value is not of its type (5.5 for a count) is an error here; the class's own
    # check of that field ("expected an integer >= 1") would say it again in other words, and says
    # more (the range): one error per field, the check's where it has one.
    typed: dict[str, list[str]] = {}
    for key, value in data.items():
        path = f"{prefix}{key}" if not prefix else f"{prefix}.{key}"
        if key not in fields:
            near = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known fields: {sorted(fields)}"
            errors.append(f"{path}: unknown field{hint}")
            continue
        before = len(errors)
        kwargs[key] = _coerce(hints[key], value, path, errors)
        if _scalar(hints[key]) and errors[before:]:
            typed[key] = errors[before:]
    for name, f in fields.items():
        # A section left at its default is built here, so its problems carry its name and the rest still run.
        if name not in kwargs and f.default_factory is hints[name] and dataclasses.is_dataclass(hints[name]):
            kwargs[name] = _build(hints[name], {}, f"{prefix}.{name}" if prefix else name, errors)
    failed = [k for k, v in kwargs.items() if _section_failed(v, hints[k])]
    if failed:
        for k in failed:
            if kwargs[k] is None:
                kwargs[k] = _stand_in(hints[k], {})
        obj = _stand_in(cls, kwargs)
        _check_stand_in(obj, prefix, errors, typed)
        return obj
    # Construct even after an unknown field, so its validation problems are reported in the same go.
    try:
        return cls(**kwargs)
    except ConfigError as e:
        _drop_repeated(errors, typed, e.problems, f"{cls.__name__}.")
        errors.extend(f"{prefix + ': ' if prefix else ''}{p}" for p in e.problems)
        return _stand_in(cls, kwargs)
    except TypeError as e:  # e.g. a required field left out
        errors.append(f"{prefix or cls.__name__}: {e}")
        return None


def from_dict(cls: type[C], data: dict[str, Any] | None, source: str | None = None) -> C:
    errors: list[str] = []
    obj = _build(cls, dict(data or {}), "", errors)
    if errors or obj is None:
        raise ConfigError(errors or ["could not build configuration"], source)
    return obj


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict; values are parsed as YAML scalars."""
    out = _deep_copy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError([f"override {item!r}: expected key=value, a dotted field of the configuration "
                               "and its value (e.g. section.field=7); a stray argument?"])
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError([f"override {item!r}: empty key segment in {key!r}"])
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError([f"override {item!r}: {p!r} is not a section"])
        node[parts[-1]] = yaml.safe_load(raw) if raw.strip() else ""
    return out


def _deep_copy(d: dict[str, Any]) -> dict[str, Any]:
    return {k: _deep_copy(v) if isinstance(v, dict) else v for k, v in d.items()}


def load_config(cls: type[C], path: str | Path | None = None, overrides: Sequence[str] = (),
                base: str | Path | None = None) -> C:
    """Read a YAML preset (or start from defaults), apply overrides, validate, return the config.

    Path fields (:func:`path_field`) come back absolute against ``base`` (default: the working
    directory), whether they came from the preset or an override: a command resolves them once,
    here, before anything reaches a Ray worker."""
    data: dict[str, Any] = {}
    source = None
    if path is not None:
        source = str(path)
        p = Path(path)
        if not p.is_file():
            raise ConfigError([f"config file {p} does not exist"], source)
        try:
            loaded = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ConfigError([f"not valid YAML: {e}"], source) from e
        if not isinstance(loaded, dict):
            raise ConfigError([f"expected a mapping at the top level, got {type(loaded).__name__}"], source)
        data = loaded
    try:
        cfg = from_dict(cls, apply_overrides(data, overrides), source)
    except ConfigError as e:
        raise with_origins(cls, data, overrides, e) from None
    return resolve_config_paths(cfg, base)


# "section: Class.field: …", "Class.field: …" or "a.b: unknown field …" → the dotted key it is about.
_PROBLEM_KEY = re.compile(r"^(?:(?P<section>[\w.\[\]]+): )?(?:[A-Z]\w*\.)?(?P<field>[\w.\[\]]+)[:/]")


def _problem_key(problem: str) -> str | None:
    m = _PROBLEM_KEY.match(problem)
    if not m:
        return None
    return f"{m['section']}.{m['field']}" if m["section"] else m["field"]


def _override_named(problem: str, overrides: Sequence[str], key_prefix: str) -> str:
    """The ``key=value`` overrides a problem is about, as typed (all of them when none names its key)."""
    key = (_problem_key(problem) or "").removeprefix(key_prefix)
    mine = [o for o in overrides
            if (k := o.split("=", 1)[0].strip()) == key or key.startswith(k + ".") or k.startswith(key + ".")]
    return ", ".join(mine or overrides)


def with_origins(cls: type[C], preset: dict[str, Any], overrides: Sequence[str], error: ConfigError,
                 key_prefix: str = "") -> ConfigError:
    """The same problems, each saying whether the preset or a command-line override brought it: a
    problem the preset alone (or the defaults) does not have came with the overrides. ``key_prefix``:
    where in the preset the overrides apply (serve's ``applications[0].args.``)."""
    if not overrides:
        return error
    try:
        from_dict(cls, preset)
        own: set[str] = set()
    except ConfigError as e:
        own = set(e.problems)
    base = Path(error.source).name if error.source else "the defaults"
    ours = [p not in own for p in error.problems]
    if not any(ours):
        return error
    problems = [f"{p} (command-line override {_override_named(p, overrides, key_prefix)})" if cli else f"{p} (from {base})"
                for p, cli in zip(error.problems, ours)]
    if all(ours):
        return ConfigError(problems, "command-line override(s)")
    return ConfigError(problems, f"{error.source or 'the defaults'} + command-line overrides")


def dump_config(cfg: Config) -> str:
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
