"""The top of every phase notebook: load and validate the profile, log what determines the results.

`start()` logs (with timestamps) the effective configuration, library versions, seed and device, and
returns the `Session` the phase's steps take. Under papermill and in JupyterLab alike, paths resolve
from the repository and results land under `outputs/<profile>/`.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import yaml

from xstilts.files import atomic_write_json, atomic_write_text
from xstilts.paths import outputs_dir
from xstilts.reports.display import Note, Table, relative_link
from xstilts.study.grid import model_of
from xstilts.study.profile import Profile, ProfileError, baseline, differences, load_profile
from xstilts.study.runstore import PHASES, RunStore

log = logging.getLogger("xstilts")
LIBRARIES = (
    "xstilts",
    "torch",
    "transformers",
    "tokenizers",
    "datasets",
    "accelerate",
    "numpy",
    "scipy",
    "statsmodels",
    "seqeval",
    "faiss-cpu",
)


@dataclass
class Session:
    profile: Profile
    phase: str
    shard: int
    num_shards: int
    device: str
    store: RunStore
    claim: bool = False  # a local worker process (`workers:`): take any run no other worker holds
    ranks: int | None = None  # a wide worker (`xstilts submit`): only the runs sharded over this many processes
    threads: int | str = "-"
    _grid: dict | None = field(default=None, repr=False)  # the planned runs, once per session
    _files: dict = field(default_factory=dict, repr=False)  # the profile's files as read at the start

    def __post_init__(self):
        self._files = {path: _read_bytes(path) for path in self.profile.files}

    def check_profile(self) -> None:
        """Stop if a file of the profile changed since this session started: a step must never mix runs
        of the profile as it was with results of the profile as it is."""
        for path, content in self._files.items():
            if _read_bytes(path) != content:
                raise ProfileChanged(
                    f"{path} changed since this session started: run the notebook again from its first cell "
                    "(JupyterLab: Kernel > Restart Kernel and Run All Cells), so every step follows the edited profile"
                )

    @property
    def out(self) -> Path:
        return outputs_dir(self.profile.name)

    @property
    def results_dir(self) -> Path:
        path = self.out / "results"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def figures_dir(self) -> Path:
        path = self.out / "figures"
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def notebooks_dir(self) -> Path:
        return self.out / "notebooks"

    def table(self, frame, name: str, caption: str = "", max_rows: int | None = None) -> Table:
        """A report table; the full table is written to `results/<name>.csv` and linked when it is long."""
        kw = {} if max_rows is None else {"max_rows": max_rows}
        return Table(frame, self.results_dir / f"{name}.csv", self.notebooks_dir, caption, **kw)

    def train_config(self, hp: dict, run, progress: bool = False):
        """The engine's TrainConfig of a run: its recipe (`hp`, from the run's spec) and how this machine runs
        it (its size's micro-batch per rank, resumable checkpoints every `checkpoint_minutes`, threads, the
        feature cache, progress bars, TensorBoard curves when the profile asks for them). The layout is not
        part of the run's id: the same run on 1 or N ranks is the same run (docs/design.md §13)."""
        from xstilts.engine.train_config import TrainConfig

        if "lr_times" in hp:  # the lr pilot's: a multiple of the size's selected lr (xstilts.study.grid.train_config)
            hp = dict(hp)
            hp["lr"] = self.store.result(("pretrained", run.spec["lr_pilot"]))["lr"] * hp.pop("lr_times")
        board = self.out / "tensorboard" / run.phase / run.id if self.profile["tensorboard"] else None
        model = next((m for m in self.profile["models"] if m["name"] == model_of(run)), {})
        return TrainConfig(
            **hp,
            micro_batch=model.get("micro_batch"),
            checkpoint_minutes=self.profile["checkpoint_minutes"],
            num_threads=self.profile["num_threads"] or None,
            progress=progress,
            cache_dir=str(self.out / "cache" / "features"),
            tensorboard_dir=str(board) if board else None,
        )

    def record(self) -> None:
        """Write what determines this phase's results: the effective configuration (`config/effective.yaml`)
        and the phase's setup (`config/<phase>.json`: profile chain, device, threads, seed, versions)."""
        folder = self.out / "config"
        atomic_write_text(folder / "effective.yaml", yaml.safe_dump(self.profile.cfg, sort_keys=False, width=110))
        atomic_write_json(
            folder / f"{self.phase}.json",
            {
                "profile": self.profile.name,
                "files": [f.name for f in self.profile.files],
                "phase": self.phase,
                "shard": self.shard,
                "num_shards": self.num_shards,
                "device": self.device,
                "threads": self.threads,
                "seed": self.profile["seed"],
                "versions": versions(),
            },
        )

    def overview(self) -> Note:
        """The top of a report: profile, phase, device, seed, library versions, and what this profile sets
        differently from the one it extends (the whole configuration is linked, not shown)."""
        base_name, base = baseline(self.profile)
        rows = differences(self.profile.cfg, base)
        v = versions()
        lines = [
            f"**Profile** `{self.profile.name}` ({' <- '.join(f.name for f in self.profile.files)}) · "
            f"**phase** {self.phase} · **shard** {self.shard + 1} of {self.num_shards} · **device** {self.device} "
            f"· **seed** {self.profile['seed']}",
            "",
            "**Versions** "
            + ", ".join(
                f"{k} {v[k]}" for k in ("python", "xstilts", "torch", "transformers", "datasets", "numpy", "scipy")
            ),
            "",
            f"The whole effective configuration: [effective.yaml]({relative_link(self.out / 'config' / 'effective.yaml', self.notebooks_dir)}).",
        ]
        if rows:
            lines += [
                "",
                f"What `{self.profile.name}` sets differently from {base_name}:",
                "",
                "| key | value | " + base_name + " |",
                "|---|---|---|",
            ]
            lines += [f"| `{key}` | {_brief(value)} | {_brief(old)} |" for key, value, old in rows]
        return Note("\n".join(lines))

    def mine(self, run) -> bool:
        """Whether this worker's shard owns `run`."""
        return run.shard(self.num_shards) == self.shard


class ProfileChanged(ProfileError):
    """The profile's files were edited after the session started."""


def _read_bytes(path: Path) -> bytes | None:
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def _brief(value, width: int = 60) -> str:
    """A value for a table cell: a list of models by name, long values cut."""
    if isinstance(value, list) and value and all(isinstance(m, dict) and "name" in m for m in value):
        value = f"{len(value)} models: " + ", ".join(m["name"] for m in value)
    text = str(value).replace("|", "/")
    return text if len(text) <= width else text[: width - 3] + "..."


MODEL_PHASES = ("pretrained", "intermediate", "target")  # the phases that import torch and transformers


def setup_logging(log_file: Path | None = None) -> None:
    """INFO and above into the phase's log file (and each run's own log.txt, added by the run store);
    only WARNING and above reach the notebook or the console. Python warnings are logged, not printed,
    so they land in the log file rather than in a report."""
    handlers: list[logging.Handler] = []
    shown = logging.StreamHandler(sys.stdout)
    shown.setLevel(logging.WARNING)
    shown.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handlers.append(shown)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        written = logging.FileHandler(log_file)
        written.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        handlers.append(written)
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").propagate = False
    if log_file is not None:
        logging.getLogger("py.warnings").handlers = [handlers[-1]]
    for noisy in ("datasets", "transformers", "accelerate", "httpx", "filelock", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def quiet_library_progress(models: bool) -> None:
    """Keep the reports readable: one progress bar per phase step, not one per dataset map, file fetch or
    weight load."""
    import datasets
    from huggingface_hub.utils import disable_progress_bars

    datasets.disable_progress_bars()
    disable_progress_bars()
    if models:
        import transformers

        transformers.utils.logging.disable_progress_bar()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "-"
    return out


def resolve_device(wanted: str) -> str:
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("profile asks for device: cuda, but torch sees no GPU (set device: auto or cpu)")
    return wanted


def start(
    profile: str,
    phase: str,
    shard: int = 0,
    num_shards: int = 1,
    claim: bool = False,
    rank_entry: bool = False,
    ranks: int | None = None,
) -> Session:
    """Validate the profile and the shard settings, set threads, record the effective setup (a file under
    `outputs/<profile>/config/`); `Session.overview()` is what the report shows of it. `rank_entry`: one rank
    of a sharded run (xstilts.study.ranks), which records nothing and logs to its launcher's log."""
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
    if not (isinstance(shard, int) and isinstance(num_shards, int) and 0 <= shard < num_shards):
        raise ValueError(f"shard must satisfy 0 <= shard < num_shards, got shard={shard}, num_shards={num_shards}")
    prof = load_profile(profile)
    setup_logging(None if rank_entry else outputs_dir(prof.name) / "logs" / f"{phase}.log")
    models = phase in MODEL_PHASES
    quiet_library_progress(models)
    threads = "-"
    if models:  # data and analysis never touch a model: they skip importing torch
        import torch

        if prof["num_threads"]:
            torch.set_num_threads(prof["num_threads"])
        device, threads = resolve_device(prof["device"]), torch.get_num_threads()
    else:
        device = "cpu (no model in this phase)"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if prof.is_miniature:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the miniature never needs the hub
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    session = Session(
        profile=prof,
        phase=phase,
        shard=shard,
        num_shards=num_shards,
        device=device,
        store=RunStore(prof.name),
        claim=claim,
        ranks=ranks,
        threads=threads,
    )
    if not rank_entry:
        session.record()
    log.info(
        "profile %s (%s), phase %s, shard %d/%d, device %s, torch threads %s, seed %d",
        prof.name,
        " <- ".join(f.name for f in prof.files),
        phase,
        shard,
        num_shards,
        device,
        threads,
        prof["seed"],
    )
    return session
