"""xstilts: the helper library of the X-STILTs-at-scale study.

Phases (notebooks) call one function per step from here; logic lives in the library, not in notebooks.
"""

__version__ = "0.1.0"
