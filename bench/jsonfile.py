"""JSON from a run folder, read without trusting it, and checked against the shape its reader needs.

A run folder may have been edited, copied half-way or damaged: :func:`read_text` refuses a
folder or a file that is not UTF-8, :func:`loads` JSON nested deeper, or with numbers larger,
than the harness ever writes, and :func:`conforms` names the first value that does not have
its shape. Each raises with a reason its caller puts into one line naming the file.

A shape is a tuple of what a value may be: Python types (``int``, ``str``, ``NoneType``...),
:class:`Range` (a number within bounds), a dict of fields (``name: (shape, required)``, other
keys allowed), :class:`Each` (a list of one shape) or :class:`Keyed` (an object of one shape).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchError

MAX_DEPTH = 32  # env.json's deepest value is 6 levels down, a record's 5
LARGEST = 2**63  # no count, rate or size the harness records comes near


@dataclass(frozen=True)
class Range:
    """A number of ``types`` from ``low`` to ``high`` (None: no bound)."""

    types: tuple
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True)
class Each:
    """A list whose items all have ``shape``."""

    shape: tuple


@dataclass(frozen=True)
class Keyed:
    """An object whose values all have ``shape``; ``keys`` a pattern every key must match."""

    shape: tuple
    keys: str | None = None


def read_text(path: Path, what: str) -> str:
    """The text of a file of a run folder; BenchError for a folder, an unreadable file or one that is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise BenchError(f"{path} is a folder, not {what}: move it away and restore the file") from None
    except UnicodeDecodeError as exc:
        raise BenchError(f"{path} is not UTF-8 text (byte {exc.start}): restore {what} from a copy, "
                         f"or move it away") from None
    except OSError as exc:
        raise BenchError(f"cannot read {path}: {exc.strerror or exc}; check its permissions") from None


def loads(text: str):
    """The JSON value of ``text``; ValueError saying why it is not JSON the harness writes ("is not JSON (...)",
    "holds NaN, which is no number"...), to follow the file's name."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"is nested deeper than {MAX_DEPTH} levels") from None
    except _NotANumber as exc:
        raise ValueError(f"holds {exc}") from None
    except ValueError:  # an integer of thousands of digits
        raise ValueError("holds a number too long to read") from None
    _check_sizes(value)
    return value


class _NotANumber(ValueError):
    pass


def _no_constant(name: str):
    raise _NotANumber(f"{name}, which is no number")


def _check_sizes(value) -> None:
    """Refuse nesting past MAX_DEPTH and numbers past LARGEST (or not finite), without recursing."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"is nested deeper than {MAX_DEPTH} levels")
            stack.extend((inner, depth + 1) for inner in (item.values() if isinstance(item, dict) else item))
        elif isinstance(item, (int, float)) and not isinstance(item, bool):
            if not (math.isfinite(item) and -LARGEST < item < LARGEST):
                raise ValueError(f"holds the number {_shown(item)}, out of any range the harness writes")


def conforms(value, shape, where: str) -> None:
    """ValueError naming ``where`` (and the inner field) when ``value`` does not have ``shape``
    (a tuple of options, or one)."""
    shape = shape if isinstance(shape, tuple) else (shape,)
    for option in shape:
        if isinstance(option, type):
            if isinstance(value, option) and not (isinstance(value, bool) and option is not bool):
                return
        elif isinstance(option, Range):
            if _in_range(value, option):
                return
        elif isinstance(option, dict) and isinstance(value, dict):
            for name, (inner, required) in option.items():
                if name in value:
                    conforms(value[name], inner, f"{where}[{name!r}]")
                elif required:
                    raise ValueError(f"{where} has no {name!r}")
            return
        elif isinstance(option, Each) and isinstance(value, list):
            for index, item in enumerate(value):
                conforms(item, option.shape, f"{where}[{index}]")
            return
        elif isinstance(option, Keyed) and isinstance(value, dict):
            for key, item in value.items():
                if option.keys and not re.fullmatch(option.keys, key):
                    raise ValueError(f"{where} has the key {_shown(key)}, not one like {option.keys}")
                conforms(item, option.shape, f"{where}[{key!r}]")
            return
    raise ValueError(f"{where} is {_shown(value)}, not {words(shape)}")


def checked(data, kinds: dict, what: str) -> None:
    """ValueError naming the first field of ``data`` that is missing or not of its shape (bool is never an int)."""
    if not isinstance(data, dict):
        raise ValueError(f"a {what} is a JSON object, not {type(data).__name__}")
    for name, (shape, required) in kinds.items():
        if name in data:
            conforms(data[name], shape, f"the {what}'s {name!r}")
        elif required:
            raise ValueError(f"the {what} has no {name!r}")


def _in_range(value, option: Range) -> bool:
    if not isinstance(value, option.types) or isinstance(value, bool):
        return False
    return (option.low is None or value >= option.low) and (option.high is None or value <= option.high)


def words(shape: tuple) -> str:
    """What a shape accepts, in a few words: 'int or float', 'a list', 'a number from 1'."""
    said = []
    for option in shape:
        if isinstance(option, type):
            said.append({type(None): "null", dict: "an object", list: "a list"}.get(option, option.__name__))
        elif isinstance(option, Range):
            kind = "a whole number" if option.types == (int,) else "a number"
            bounds = (f" from {option.low:g}" if option.low is not None else "") + (
                f" to {option.high:g}" if option.high is not None else "")
            said.append(kind + bounds)
        else:
            said.append("a list" if isinstance(option, Each) else "an object")
    return " or ".join(said)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}…({len(text)} characters)"
