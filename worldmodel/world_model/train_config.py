"""``jepa train``'s configuration: data, recipe, model, optimisation, outputs."""

from __future__ import annotations

from dataclasses import dataclass, field

from worldmodel.config import check_ranges


@dataclass
class TrainConfig:
    """``jepa train``: data, recipe, model, optimisation, outputs."""

    data: str = "data/two_rooms"
    recipe: str = "end_to_end"  # end_to_end | frozen
    perception_checkpoint: str | None = None  # a `jepa pretrain` checkpoint (frozen recipe)
    pretrained_predictor: bool = False  # frozen + transformer: start from its JEPA predictor
    pooling: str = "mean"  # frozen recipe: mean | keypoints (centre of mass of what moves)
    predictor: str = "mlp"  # mlp | transformer
    channels: list[int] = field(default_factory=lambda: [8, 16, 16])  # conv encoder widths
    latent_dim: int = 64
    frames: int = 1  # frame history the encoder reads (2 makes velocity observable)
    frameskip: int = 1  # env steps per model step; the predictor takes their k actions as one
    z_dim: int = 0  # latent variable of the MLP predictor (0: deterministic)
    z_weight: float = 0.1  # penalty on the inferred latent's size
    hidden: int = 512
    horizon: int = 8  # steps of multi-step prediction per sample
    batch_size: int = 64
    steps: int = 3000
    max_minutes: float = 0.0
    schedule: str = "steps"  # steps | minutes: the learning rate spans max_minutes of training
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 1e-4
    variance_weight: float = 1.0
    covariance_weight: float = 0.04
    time_weight: float = 0.1
    inverse_weight: float = 1.0
    teacher_weight: float = 1.0  # frozen recipe: teacher-forced term
    bf16: bool | None = None  # None: where the device has native bf16 kernels
    held_out: float = 0.1
    seed: int = 0
    out: str = "runs/train"
    resume: bool = False
    init: str | None = None  # start from this `jepa train` checkpoint's weights (fine-tuning)
    save_every: int = 500
    log_every: int = 50
    rankme_warn: float = 2.0  # warn when the latents' effective rank falls below this
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        check_ranges(self, positive=("latent_dim", "frames", "frameskip", "hidden", "horizon",
                                     "batch_size", "steps", "save_every", "log_every"),
                     non_negative=("z_dim", "z_weight", "max_minutes", "lr", "warmup",
                                   "weight_decay", "variance_weight", "covariance_weight",
                                   "time_weight", "inverse_weight", "teacher_weight"))
        if not 0 < self.held_out < 1:
            raise ValueError(f"held_out is the fraction of episodes kept out of training, "
                             f"between 0 and 1, got {self.held_out}")

    def model_action_dim(self, action_dim: int) -> int:
        """The predictor's action size for env actions of ``action_dim``: one model step
        takes the ``frameskip`` env actions it spans."""
        return action_dim * self.frameskip

    @property
    def max_frames(self) -> int:
        """Frames the transformer predictor's time embedding covers (a training window)."""
        return max(32, self.horizon + 1)
