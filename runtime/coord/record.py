"""Immutable records declared like dataclasses, without importing dataclasses.

Every coord command and hook starts a fresh interpreter, and ``dataclasses``
pulls in ``inspect`` (with ``ast``, ``dis`` and more), a cost of several
milliseconds paid before any work. A record here is a named tuple built from
the class's annotated fields and their defaults, keeping its methods::

    @record
    class Poke:
        time: datetime
        yoda: str
        text: str = ""

Fields with a default come after those without; a default is shared between
instances, so it must be immutable (a tuple, not a list).
"""

from __future__ import annotations

from collections import namedtuple


def record(cls: type) -> type:
    names = list(cls.__dict__.get("__annotations__", {}))
    defaults = [cls.__dict__[name] for name in names if name in cls.__dict__]
    base = namedtuple(cls.__name__, names, defaults=defaults, module=cls.__module__)
    skipped = {"__dict__", "__weakref__", "__annotations__", *names}
    namespace = {key: value for key, value in cls.__dict__.items() if key not in skipped}
    namespace["__slots__"] = ()
    namespace["__annotations__"] = cls.__dict__.get("__annotations__", {})
    return type(cls.__name__, (base,), namespace)
