"""Verify a profile's run store and repair it: failed runs, damaged runs and what depends on them.

A completed run's marker holds the manifest of what it wrote (runstore.manifest). `inspect` compares every
planned, completed run against it (sizes, and with `deep` the checksums) and lists failed runs with the
first line of their error. `repair` makes each damaged run incomplete together with every completed run
that reads it, directly or through others, and deletes the executed notebooks from the earliest phase
touched on, so the next `make reproduce` redoes exactly those runs and rewrites the reports after them. A
run whose checkpoint was deleted after use (keep_checkpoints: false) is redone too when a run that is not
complete reads it again (after a profile edit adds seeds, say).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xstilts.study.runstore import PHASES, Run, RunStore, notebook_of


@dataclass
class Inspection:
    """What `xstilts runs` reports: counts per phase, failed runs and damaged runs."""

    status: dict[str, tuple[int, int]]
    failed: list[tuple[Run, str]] = field(default_factory=list)  # (run, first line of its error)
    damaged: list[tuple[Run, list[str]]] = field(default_factory=list)  # (run, what is wrong)

    @property
    def complete(self) -> int:
        return sum(done for done, _ in self.status.values())

    @property
    def planned(self) -> int:
        return sum(total for _, total in self.status.values())


def inspect(store: RunStore, plan: dict[str, list[Run]], deep: bool = False) -> Inspection:
    runs = [run for phase_runs in plan.values() for run in phase_runs]
    out = Inspection(status=store.status(runs))
    for run in runs:
        failure = store.failure(run)
        if failure is not None:
            out.failed.append((run, failure.get("error", "")))
        problems = store.check(run, deep=deep)
        if problems:
            out.damaged.append((run, problems))
    return out


def dependants(plan: dict[str, list[Run]], ids: set[str]) -> list[Run]:
    """Every planned run that reads one of `ids`, directly or through other runs (in plan order)."""
    ordered = [run for phase in PHASES for run in plan.get(phase, [])]
    hit = set(ids)
    changed = True
    while changed:  # a fixed point over a DAG of a few thousand runs: a handful of passes
        changed = False
        for run in ordered:
            if run.id not in hit and any(rid in hit for rid in run.reads):
                hit.add(run.id)
                changed = True
    return [run for run in ordered if run.id in hit and run.id not in ids]


def needed_again(store: RunStore, plan: dict[str, list[Run]]) -> list[Run]:
    """Completed runs whose checkpoint was deleted after use (runstore.prune) that an incomplete run reads."""
    runs = [run for phase_runs in plan.values() for run in phase_runs]
    wanted = {rid for run in runs if not store.is_complete(run) for rid in run.reads}
    return [run for run in runs if run.id in wanted and store.is_complete(run) and store.is_pruned(run)]


def repair(store: RunStore, plan: dict[str, list[Run]], deep: bool = False) -> list[Run]:
    """Make every damaged run and every completed run depending on one incomplete, and every pruned run that
    an incomplete run needs again; delete the executed notebooks from the earliest phase touched on.
    Returns the runs made incomplete."""
    damaged = [run for run, _ in inspect(store, plan, deep).damaged]
    redo = damaged + [run for run in dependants(plan, {r.id for r in damaged}) if store.is_complete(run)]
    redo += [run for run in needed_again(store, plan) if run not in redo]
    if not redo:
        return []
    for run in redo:
        store.invalidate(run)
    first = min(PHASES.index(run.phase) for run in redo)
    notebooks = store.root.parent / "notebooks"  # outputs/<profile>/notebooks
    for phase in PHASES[first:]:
        (notebooks / f"{notebook_of(phase)}.ipynb").unlink(missing_ok=True)
    return redo
