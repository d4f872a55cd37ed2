"""Progress bars where a person watches (a terminal, JupyterLab), none in an executed report.

`bar(...)` is tqdm's automatic bar (a widget in JupyterLab, text on a terminal) unless bars are off:
`enabled=False` at the call, or `TQDM_DISABLE` set in the environment, which is how `xstilts execute`
runs the phase notebooks (the console shows the phase's progress instead).
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm


def bars_on() -> bool:
    return os.environ.get("TQDM_DISABLE", "").lower() not in ("1", "true", "yes")


def bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm bar over `iterable` (or a manual one with `total=`), off unless `enabled` and bars are on."""
    return tqdm(iterable, disable=not (enabled and bars_on()), **kwargs)
