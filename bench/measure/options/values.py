"""What an option's value may be: how a flag's text or invoke.yaml's value becomes it, and its bounds.

Each kind has ``parse`` (a flag's text or an invoke.yaml value -> the value, or a one-line
error) and ``check`` (a value, also one read back from env.json -> a one-line error when it
is of the wrong type, out of bounds or not one of its choices). ``where`` names where the
value came from in every message: ``--port``, ``invoke.yaml's bench.port`` or ``option port``
(env.json), so the user knows what to change.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable

from bench.config import plain
from bench.errors import BenchError
from bench.jsonfile import conforms

from .. import cpus


class Kind:
    """A kind of value; the base takes any value as it is."""

    words = "a value"  # what a value of this kind is, for "... which is not a list of int"
    types: tuple = (object,)  # what a value of this kind is an instance of (bool is no int here)
    absent = None  # a flag-only option's value when its flag is not given

    def parse(self, raw, where: str):
        return raw

    def check(self, value, where: str, config=None) -> None:
        """One-line BenchError when ``value`` is not of this kind (``config``: None for a stored run's value)."""

    def holds(self, value) -> bool:
        """Whether ``value`` is of this kind's type (whatever its bounds)."""
        return isinstance(value, self.types) and not (isinstance(value, bool) and bool not in self.types)

    def _type(self, value, where: str) -> None:
        if not self.holds(value):
            raise BenchError(f"{where} is {value!r}, which is not {self.words}")


@dataclass(frozen=True)
class Whole(Kind):
    """A whole number from ``low`` to ``high`` (None: no upper bound) of ``unit``."""

    low: int
    high: int | None = None
    unit: str = ""
    words = "int"
    types = (int,)

    def parse(self, raw, where: str):
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", raw):
            return int(raw)
        raise BenchError(f"{where} must be a whole number, not {raw!r}")

    def check(self, value, where: str, config=None) -> None:
        self._type(value, where)
        if value < self.low or (self.high is not None and value > self.high):
            unit = f" {self.unit}" if self.unit else ""
            advice = f"give at least {self.low}{unit}" if self.high is None else f"choose {self.low} to {self.high}{unit}"
            raise BenchError(f"{where} {value} is out of range: {advice}")


@dataclass(frozen=True)
class Seconds(Kind):
    """A number of seconds, more than 0 and at most ``high``."""

    high: float
    words = "int or float"
    types = (int, float)

    def parse(self, raw, where: str):
        try:
            seconds = float(raw) if isinstance(raw, (str, int, float)) and not isinstance(raw, bool) else None
        except ValueError:
            seconds = None
        if seconds is None:
            raise BenchError(f"{where} must be a number of seconds, not {raw!r}")
        return int(seconds) if seconds.is_integer() else seconds

    def check(self, value, where: str, config=None) -> None:
        self._type(value, where)
        if not (math.isfinite(value) and 0 < value <= self.high):  # also refuses nan and inf
            raise BenchError(f"{where} {value} is out of range: choose more than 0 and at most {self.high:g} seconds")


@dataclass(frozen=True)
class Text(Kind):
    """Text; ``valid`` (value, where) raises for text that is not what the option takes (an address, a name)."""

    valid: Callable | None = None
    words = "str"
    types = (str,)

    def parse(self, raw, where: str):
        if not isinstance(raw, str):
            raise BenchError(f"{where} must be text, not {raw!r}")
        return raw

    def check(self, value, where: str, config=None) -> None:
        self._type(value, where)
        if self.valid is not None:
            self.valid(value, where)


@dataclass(frozen=True)
class Choice(Kind):
    """One of ``choices``: a tuple, or a function of invoke.yaml's config (for a stored run, not checked)."""

    choices: tuple | Callable
    noun: str
    words = "str"
    types = (str,)

    def parse(self, raw, where: str):
        return str(raw).strip()

    def allowed(self, config) -> tuple | None:
        return self.choices if isinstance(self.choices, tuple) else None if config is None else self.choices(config)

    def check(self, value, where: str, config=None) -> None:
        self._type(value, where)
        allowed = self.allowed(config)
        if allowed is not None and value not in allowed:
            raise BenchError(f"unknown {self.noun} {value!r} ({where}): choose from {', '.join(allowed)}")


class Switch(Kind):
    """A flag that is on or off."""

    words = "bool"
    types = (bool,)
    absent = False

    def parse(self, raw, where: str):
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise BenchError(f"{where} must be true or false, not {raw!r}")

    def check(self, value, where: str, config=None) -> None:
        self._type(value, where)


@dataclass(frozen=True)
class Maybe(Kind):
    """``kind``, or null (the option's help says what null means)."""

    kind: Kind

    @property
    def words(self) -> str:
        return f"{self.kind.words} or null"

    def holds(self, value) -> bool:
        return value is None or self.kind.holds(value)

    def parse(self, raw, where: str):
        return None if raw is None else self.kind.parse(raw, where)

    def check(self, value, where: str, config=None) -> None:
        if value is not None:
            self.kind.check(value, where, config)


@dataclass(frozen=True)
class Many(Kind):
    """Several of ``item``: a YAML list, or comma-separated (``comma``) or repeated flags; ``empty`` if none may be given."""

    item: Kind
    empty: bool = False
    comma: bool = True

    @property
    def words(self) -> str:
        return f"a list of {self.item.words}"

    def parse(self, raw, where: str):
        if raw is None or raw == "":
            return ()
        if isinstance(raw, str):
            raw = [item.strip() for item in raw.split(",")] if self.comma else [raw]
        elif not isinstance(raw, (list, tuple)):
            raise BenchError(f"{where} must be a list or comma-separated, not {raw!r}")
        return tuple(self.item.parse(item, where) for item in raw if str(item).strip())

    def holds(self, value) -> bool:
        return isinstance(value, tuple) and all(self.item.holds(item) for item in value)

    def check(self, value, where: str, config=None) -> None:
        self._type(value, where)
        if not value and not self.empty:
            allowed = self.item.allowed(config) if isinstance(self.item, Choice) else None
            raise BenchError(f"{where} is empty: give at least one" + (f" of {', '.join(allowed)}" if allowed else ""))
        for item in value:
            self.item.check(item, where, config)


class CpuList(Many):
    """CPUs in Linux's list syntax (``0,2-3``); none: no pinning."""

    def __init__(self):
        super().__init__(Whole(0), empty=True)

    def parse(self, raw, where: str):
        return () if raw in (None, "") else cpus.parse_cpus(str(raw))


@dataclass(frozen=True)
class Shape(Kind):
    """An object whose fields have the shapes ``fields`` gives (see :func:`bench.jsonfile.conforms`)."""

    fields: dict
    words = "an object"
    types = (dict,)

    def check(self, value, where: str, config=None) -> None:
        try:
            conforms(value, (self.fields,), where)
        except ValueError as exc:
            raise BenchError(str(exc)) from None


class Pins(Kind):
    """setup.twisted's releases as what a run needs of them: version -> the oldest Python it installs on."""

    words = "an object of version -> Python"
    types = (dict,)

    def parse(self, raw, where: str):
        if isinstance(raw, dict):  # a stored run's
            return raw
        if not isinstance(raw, list) or not all(isinstance(release, dict) and release.get("version")
                                                and release.get("python") for release in raw):
            raise BenchError(f"{where} must be a list of releases, each with its version and python")
        return {str(release["version"]): str(release["python"]) for release in raw}

    def check(self, value, where: str, config=None) -> None:
        self._type(value, where)
        if not all(isinstance(key, str) and isinstance(python, str) for key, python in value.items()):
            raise BenchError(f"{where} is {value!r}, which is not {self.words}")


def configured(config, key: str):
    """The value of ``key`` ("bench.port") in invoke.yaml, as plain data; one line when invoke.yaml lacks it."""
    value = config
    for part in key.split("."):
        if part not in value:
            raise BenchError(f"invoke.yaml has no {key}: add it (the project's invoke.yaml has every key, "
                             f"each with its default and what it is for)")
        value = value[part]
    return plain(value)
