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

from xstilts.paths import outputs_dir
from xstilts.study.profile import Profile, load_profile
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
    _grid: dict | None = field(default=None, repr=False)  # the planned runs, once per session

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

    def mine(self, run) -> bool:
        """Whether this worker's shard owns `run`."""
        return run.shard(self.num_shards) == self.shard


MODEL_PHASES = ("pretrained", "intermediate", "target")  # the phases that import torch and transformers


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level,
        stream=sys.stdout,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in ("datasets", "transformers", "accelerate", "httpx", "filelock", "urllib3", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def quiet_library_progress(models: bool) -> None:
    """Keep the reports readable: one progress bar per phase step, not one per dataset map or weight load."""
    import datasets

    datasets.disable_progress_bars()
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


def start(profile: str, phase: str, shard: int = 0, num_shards: int = 1, claim: bool = False) -> Session:
    """Validate the profile and the shard settings, set threads, log the effective setup."""
    setup_logging()
    if phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
    if not (isinstance(shard, int) and isinstance(num_shards, int) and 0 <= shard < num_shards):
        raise ValueError(f"shard must satisfy 0 <= shard < num_shards, got shard={shard}, num_shards={num_shards}")
    prof = load_profile(profile)
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
    log.info(
        "profile %s (%s), phase %s, shard %d/%d",
        prof.name,
        " <- ".join(str(f.name) for f in prof.files),
        phase,
        shard,
        num_shards,
    )
    log.info("device %s, torch threads %s, seed %d", device, threads, prof["seed"])
    log.info("versions %s", " ".join(f"{k}={v}" for k, v in versions().items()))
    log.info("effective configuration:\n%s", yaml.safe_dump(prof.cfg, sort_keys=False, width=110))
    return Session(
        profile=prof,
        phase=phase,
        shard=shard,
        num_shards=num_shards,
        device=device,
        store=RunStore(prof.name),
        claim=claim,
    )
