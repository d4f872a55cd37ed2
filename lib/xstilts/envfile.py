"""environment.yml for conda users, generated from the one pin list (requirements.txt).

`make environment.yml` writes it; a test checks the committed file equals what this renders.
"""

from __future__ import annotations

import sys
from pathlib import Path

HEADER = """\
# Generated from requirements.txt by `make environment.yml`: edit the pin list, not this file.
# conda env create -f environment.yml && conda activate xstilts
# On Linux x86-64, PyPI's torch==2.13.0 is the CUDA build (the GPU machines of the paper profile).
name: xstilts
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
"""


def pins(requirements: Path) -> list[str]:
    lines = [line.split("#")[0].strip() for line in Path(requirements).read_text().splitlines()]
    return [line for line in lines if line]


def render(requirements: Path) -> str:
    return HEADER + "".join(f"      - {pin}\n" for pin in pins(requirements)) + "      - -e .\n"


if __name__ == "__main__":
    sys.stdout.write(render(Path(sys.argv[1] if len(sys.argv) > 1 else "requirements.txt")))
