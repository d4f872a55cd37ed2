"""The fine-tuning hyperparameters. Defaults are jiant's target-task recipe (docs/recipe.md §2, §4)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class TrainConfig:
    lr: float = 1e-5  # jiant: 1e-5 for every target and intermediate task
    epochs: float = 3.0  # used when max_steps is None: steps = sum_t epochs*ceil(N_t/(batch*accum))
    max_steps: int | None = None  # overrides epochs
    batch_size: int = 4  # examples per batch drawn from the stream (the recipe)
    grad_accum: int = 8  # batches per optimiser step (the recipe: effective batch = batch_size*grad_accum)
    max_seq_len: int = 256
    warmup_ratio: float = 0.1  # linear warmup over 10% of steps, then linear decay to 0
    weight_decay: float = 0.01  # none on bias / LayerNorm
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0
    eval_every_steps: int = 1000  # 0: evaluate once, at the end
    eval_subset: int = 500  # first N English dev examples per task (jiant eval_subset_num)
    patience: int = 30  # stop after this many evals without improvement
    group_by_length: bool = True  # length-grouped batches (megabatches of 50 batches, sorted)
    bf16: bool = True  # bf16 autocast; only on CUDA
    gradient_checkpointing: bool = False
    eval_batch_multiplier: int = 2  # eval batch = 2 x train batch (jiant)
    num_threads: int | None = None  # torch CPU threads; None leaves torch's default
    log_every_steps: int = 10
    cache_dir: str | None = None  # tokenized-feature cache; None: $XSTILTS_FEATURE_CACHE or outputs/cache/features
    fsdp: bool | None = None  # None: FSDP2 for XL-class encoders when more than one process
    progress: bool = True  # tqdm bars
    tensorboard_dir: str | None = None  # write the curves as TensorBoard events here (a folder per run)
    embedding_layer: int | float | None = None  # dual encoders: hidden layer to pool (index, or fraction
    # of depth if a float <= 1), saved in the encoder's config
    freeze_encoder: bool = False  # train the heads only: the encoder keeps the weights it starts from (a probe)
    encoder_lr_scale: float = 1.0  # the encoder's learning rate as a multiple of lr (the heads train at lr)
    # How a machine runs the recipe, not part of it (docs/design.md §13):
    micro_batch: int | None = None  # examples per process per micro-step; None: batch_size // processes
    checkpoint_minutes: float = 0.0  # with a resume_dir: a resumable checkpoint this often (0: on a signal only)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("batch_size", "grad_accum", "max_seq_len", "eval_batch_multiplier") and (
                not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"TrainConfig.{f.name} must be a positive int, got {value!r}")
        if self.micro_batch is not None and (not isinstance(self.micro_batch, int) or self.micro_batch < 1):
            raise ValueError(f"TrainConfig.micro_batch must be None or a positive int, got {self.micro_batch!r}")
        if not (isinstance(self.encoder_lr_scale, (int, float)) and 0 < self.encoder_lr_scale <= 1):
            raise ValueError(f"TrainConfig.encoder_lr_scale must be in (0, 1], got {self.encoder_lr_scale!r}")
        if not self.checkpoint_minutes >= 0:
            raise ValueError(f"TrainConfig.checkpoint_minutes must be >= 0, got {self.checkpoint_minutes!r}")
        if self.max_steps is None and not self.epochs > 0:
            raise ValueError(f"TrainConfig: set max_steps or a positive epochs (got epochs={self.epochs!r})")

    def micro_steps(self, world: int) -> tuple[int, int]:
        """(examples per process per micro-step, micro-steps per optimiser step) on ``world`` processes: the
        effective batch E = batch_size * grad_accum is cut into micro-steps of world * micro_batch examples."""
        micro = self.micro_batch if self.micro_batch is not None else self.batch_size // world
        effective = self.batch_size * self.grad_accum
        if micro < 1 or effective % (world * micro):
            raise ValueError(
                f"TrainConfig: the effective batch batch_size*grad_accum = {self.batch_size}*{self.grad_accum} = "
                f"{effective} does not split into micro-steps of world*micro_batch = {world}*{micro} examples "
                f"(world={world} processes, micro_batch={self.micro_batch})"
            )
        return micro, effective // (world * micro)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise KeyError(f"TrainConfig: unknown fields {unknown}; known: {sorted(known)}")
        return cls(**d)
