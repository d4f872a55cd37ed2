"""The documentation the code cites exists: every `docs/<file>.md §N` in lib/, params/ and notebooks/ names a
file in docs/ and a numbered section of it, and no comment cites a project issue instead of a document."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    p
    for d in ("lib", "params", "notebooks")
    for p in (ROOT / d).rglob("*")
    if p.suffix in (".py", ".yaml", ".csv", ".ipynb", ".md")
]
CITATION = re.compile(r"docs/([A-Za-z0-9_.-]+\.md)((?:(?:,? (?:and|to) |, |\s)§\s?\d+(?:\.\d+)*)*)")
SECTION = re.compile(r"§\s?(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s", re.M)


def sections(doc: Path) -> set[str]:
    return set(HEADING.findall(doc.read_text()))


def citations():
    for path in SOURCES:
        for m in CITATION.finditer(path.read_text()):
            yield path.relative_to(ROOT), m.group(1), SECTION.findall(m.group(2))


def test_every_cited_document_and_section_exists():
    missing = []
    for where, name, cited in citations():
        doc = ROOT / "docs" / name
        if not doc.is_file():
            missing.append(f"{where}: docs/{name} does not exist")
            continue
        have = sections(doc)
        missing += [f"{where}: docs/{name} has no section §{n}" for n in cited if n not in have]
    assert not missing, "\n".join(sorted(set(missing)))


def test_documents_are_cited_in_the_canonical_form():
    """A document is cited as `docs/<file>.md` so the check above sees it (not `benchmarks.md` alone). A bare
    `README.md` is a hub repository's card or the project's README, not docs/README.md (the index)."""
    names = {p.name for p in (ROOT / "docs").glob("*.md")} - {"README.md"}
    assert names, "docs/ holds the project's documents"
    bare = re.compile(r"(?<![/\w])(" + "|".join(re.escape(n) for n in names) + r")\b")
    found = [f"{p.relative_to(ROOT)}: {m.group(1)}" for p in SOURCES for m in bare.finditer(p.read_text())]
    assert not found, "\n".join(found)


def test_no_comment_cites_a_project_issue():
    pattern = re.compile(r"\b[Ii]ssue \d+")
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in SOURCES for m in pattern.finditer(p.read_text())]
    assert not found, "\n".join(found)
