"""Where things live: the repository root and each profile's output tree.

Paths resolve from the repository, so a notebook opened in JupyterLab behaves as under papermill.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root: $XSTILTS_ROOT, else the first parent holding `params/` and `lib/xstilts`."""
    env = os.environ.get("XSTILTS_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in [Path.cwd().resolve(), *Path.cwd().resolve().parents, *here.parents]:
        if (parent / "params").is_dir() and (parent / "lib" / "xstilts").is_dir():
            return parent
    raise FileNotFoundError(
        "cannot find the repository root (a folder with params/ and lib/xstilts/); set XSTILTS_ROOT"
    )


def params_dir() -> Path:
    return repo_root() / "params"


def profile_name(profile: str | Path) -> str:
    """A profile's name: `mini` for `mini` and for a path such as `my/mini.yaml` (its file's stem)."""
    return Path(profile).stem if str(profile).endswith((".yaml", ".yml")) else str(profile)


def outputs_dir(profile: str) -> Path:
    """`outputs/<profile name>/`; $XSTILTS_OUTPUTS overrides the `outputs/` folder (tests use a temp dir)."""
    base = Path(os.environ["XSTILTS_OUTPUTS"]) if os.environ.get("XSTILTS_OUTPUTS") else repo_root() / "outputs"
    return base / profile_name(profile)
