"""What a report shows: tables that fit on a screen (or their head and a link to the full CSV), figures with
alt text, and short notes. Links are relative to the executed notebooks (`outputs/<profile>/notebooks/`), so
a report names no path of the machine that ran it and its links work in the HTML and in JupyterLab alike."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MAX_ROWS = 30  # a table longer than this is shown by its head and linked as CSV


def relative_link(path: Path, notebooks_dir: Path) -> str:
    """`path` as a link from the folder of the executed notebooks (POSIX separators)."""
    return Path(os.path.relpath(Path(path).resolve(), Path(notebooks_dir).resolve())).as_posix()


@dataclass
class Table:
    """A DataFrame for a report: whole when it has at most `max_rows` rows, else its head and a link to
    `csv` (written when the table is built) with the row count."""

    frame: pd.DataFrame
    csv: Path | None = None
    notebooks_dir: Path | None = None
    caption: str = ""
    max_rows: int = MAX_ROWS

    def __post_init__(self):
        if self.csv is not None:
            Path(self.csv).parent.mkdir(parents=True, exist_ok=True)
            self.frame.to_csv(self.csv, index=False)

    @property
    def link(self) -> str:
        return relative_link(self.csv, self.notebooks_dir) if self.csv and self.notebooks_dir else str(self.csv or "")

    def _repr_html_(self) -> str:
        parts = [f"<p><b>{html.escape(self.caption)}</b></p>"] if self.caption else []
        shown = self.frame if len(self.frame) <= self.max_rows else self.frame.head(self.max_rows)
        parts.append(shown.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="", border=0))
        if self.csv is not None:
            what = (
                f"the first {self.max_rows} of {len(self.frame)} rows; all of them in"
                if len(shown) < len(self.frame)
                else f"{len(self.frame)} rows, also in"
            )
            parts.append(f"<p>{what} <a href='{self.link}'>{html.escape(Path(self.csv).name)}</a></p>")
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self.frame.head(self.max_rows).to_string(index=False)


@dataclass
class Figure:
    """A PNG with its alt text and caption, embedded in the report (base64) so the HTML stands alone."""

    path: Path
    alt: str
    caption: str = ""

    def _repr_html_(self) -> str:
        data = base64.b64encode(Path(self.path).read_bytes()).decode("ascii")
        cap = f"<figcaption>{html.escape(self.caption)}</figcaption>" if self.caption else ""
        return (
            f"<figure><img src='data:image/png;base64,{data}' alt='{html.escape(self.alt, quote=True)}' "
            f"style='max-width:100%'>{cap}</figure>"
        )

    def __repr__(self) -> str:
        return f"[figure: {self.alt}]"


@dataclass
class Note:
    """A few lines of Markdown."""

    text: str

    def _repr_markdown_(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return self.text
