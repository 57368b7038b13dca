"""The `inv bench` task's parameters and help, read from an option table (Invoke reads a task's
parameters from its signature, and a flag's kind from its default: False for an on/off flag)."""
from __future__ import annotations

import functools
import inspect
from typing import Callable

from .table import OPTIONS


def flags_of(table=OPTIONS) -> tuple:
    """The options of ``table`` that are flags."""
    return tuple(option for option in table if option.help)


def signature(table=OPTIONS) -> inspect.Signature:
    """``(c, <each flag>=None or False)``."""
    parameters = [inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    for option in flags_of(table):
        on_off = option.switch is not None or option.kind.absent is False
        parameters.append(inspect.Parameter(option.flag_name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            default=False if on_off else None))
    return inspect.Signature(parameters)


def help_of(table=OPTIONS) -> dict[str, str]:
    """Each flag's help, for ``@task(help=...)``."""
    return {option.flag_name: option.help_text for option in flags_of(table)}


def repeated(table=OPTIONS) -> list[str]:
    """The flags that may be given several times, for ``@task(iterable=...)``."""
    return [option.flag_name for option in flags_of(table) if option.repeat]


def taking_flags(table=OPTIONS) -> Callable:
    """Give a task body ``body(c, **flags)`` the table's flags as its parameters: Invoke reads them, and a
    call that leaves some out (a test's ``bench(c, resume=...)``) gets their defaults, as any function would."""
    expected = signature(table)

    def decorate(body: Callable) -> Callable:
        @functools.wraps(body)
        def with_flags(*args, **kwargs):
            bound = expected.bind(*args, **kwargs)
            bound.apply_defaults()
            flags = dict(bound.arguments)
            return body(flags.pop("c"), **flags)
        with_flags.__signature__ = expected
        return with_flags
    return decorate
