"""Looking a name up in a table, and saying which valid name was probably meant when it is not there."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


def nearest(word, choices: Iterable, cutoff: float = 0.5) -> str:
    """`" (did you mean 'x'?)"` for the closest valid spelling of `word` among `choices`, or ''."""
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=cutoff)
    return f" (did you mean '{match[0]}'?)" if match else ""


def lookup(table: Mapping, key, what: str, hint: str = ""):
    """`table[key]`, or a KeyError that names the `what`, the key, the nearest valid keys and `hint`."""
    try:
        return table[key]
    except KeyError:
        near = difflib.get_close_matches(str(key), [str(k) for k in table], n=3, cutoff=0.0)
        raise KeyError(f"unknown {what} {key!r}; nearest valid: {', '.join(near)}{hint}") from None
