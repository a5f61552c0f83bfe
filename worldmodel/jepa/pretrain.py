"""``jepa pretrain``: I-JEPA on frames, V-JEPA on clips, the pixel-reconstruction
baseline, or LeJEPA on a clip's frames as views, with logs, plots and atomic resumable
checkpoints, under torchrun or alone."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path

import torch
from tensordict import TensorDict
from tqdm import tqdm

from worldmodel.config import check_ranges, pick_device
from worldmodel.data.dataset import EpisodeDataset
from worldmodel.data.loaders import Clips, Frames, StepBatchSampler, keep_batch
from worldmodel.distributed import Processes, all_finite, global_max, setup, teardown
from worldmodel.precision import resolve_bf16
from worldmodel.run_log import RunLog, plot_log, warn_if_collapsing, warn_if_shrinking
from worldmodel.stop_signal import ignore_stop_signals
from worldmodel.train_loop import RunCheckpoint, TrainingError, run_steps

from .checkpoint import (
    expect_kind,
    load,
    load_matching,
)
from .crops import RandomResizedCrops
from .lejepa import PROJECTOR, check_projector
from .masks import MaskCollator, MultiBlockMasks, TubeMasks, mask_sets
from .model import JEPA, JEPAConfig, check_lejepa_objective, check_predictor_pass, compile_loss
from .objectives import SPREAD_WARN, check_loss, rankme, reg_weight_of, typical_error
from .schedules import Cosine, Linear, Progress, WarmupCosine
from .vit import ViTConfig, preset

# The settings whose None means the method's own value (each field's comment says why).
DEFAULTS = {"objective": "ema", "mask_sets": 1, "predictor_pass": "shared",
            "bf16_until_error": 0.03}
METHOD_DEFAULTS = {
    "vjepa": {**DEFAULTS, "mask_sets": 2, "predictor_pass": "per_block",
              "bf16_until_error": 0.0},
    # bf16 throughout: its invariance loss is no unit-scale prediction error (measured so)
    "lejepa": {**DEFAULTS, "objective": "sigreg", "bf16_until_error": 0.0},
}


@dataclass
class PretrainConfig:
    """``jepa pretrain``: data, method, model size, optimisation, outputs."""

    data: str = "data/two_rooms"
    method: str = "ijepa"  # ijepa | vjepa | mae | lejepa
    # ema | vicreg | sigreg; None: the method's own, sigreg for lejepa, ema for the rest
    objective: str | None = None
    model: str = "tiny"  # encoder preset: micro | tiny | small | base
    patch_size: int = 8
    frames: int = 4  # clip length (vjepa); lejepa: views, a clip's consecutive frames
    tubelet: int = 2  # frames per token (vjepa)
    fixed_mask_shapes: bool = False  # ijepa: one mask shape for every step (blocks still move)
    # ijepa: the multi-block masks, by default the paper's (MultiBlockMasks holds them);
    # each scale is a [low, high] fraction of the grid
    mask_targets: int = MultiBlockMasks.targets
    target_scale: list[float] = field(default_factory=lambda: list(MultiBlockMasks.target_scale))
    context_scale: list[float] = field(
        default_factory=lambda: list(MultiBlockMasks.context_scale))
    # vjepa: the fraction of the clip's time steps the context spans (V-JEPA's
    # max_temporal_keep); below 1 every later token is a target (causal masks)
    context_time: float = TubeMasks.context_time
    # vjepa: false (with context_time below 1) drops the tubes: the context is the whole of
    # the clip's start, the target the whole of its end (TubeMasks)
    context_tubes: bool = TubeMasks.context_tubes
    # mask sets (context + targets) per sample, all served by one target-encoder pass.
    # None: the paper's, 2 for vjepa (a short- and a long-range set), 1 otherwise (and 1
    # with context_tubes false, whose sets would all be the same)
    mask_sets: int | None = None
    # random resized crops: boxes of a [low, high] fraction of the frame's area (None: no
    # crops) and a [low, high] width / height, resampled to the full frame. The papers' one
    # augmentation, at [0.3, 1.0]; off by default, since on Two Rooms they collapse the
    # representation (docs/benchmarks.md)
    crop_scale: list[float] | None = None
    crop_ratio: list[float] = field(default_factory=lambda: [0.75, 4 / 3])
    predictor_dim: int = 96
    predictor_depth: int = 4
    predictor_heads: int = 3
    # shared: every target block predicted in one pass, the context attending to itself
    # only; per_block: a pass per block on a copy of the context, all tokens attending to
    # all (the papers'). None: per_block for V-JEPA (one target, its tubes' union: no
    # dearer, the same probes), shared for I-JEPA (its four blocks: a 1.2x faster step, the
    # same probes) and MAE (on clips its probes fell with per_block; docs/benchmarks.md)
    predictor_pass: str | None = None
    # the prediction loss: smooth_l1 | l1 | mse; None: the method's own (JEPAConfig
    # resolves it from METHOD_LOSS: smooth L1 for ijepa, l1 for vjepa, mse for mae)
    loss: str | None = None
    # the regulariser's weight (objective vicreg or sigreg); None: the objective's own
    # (REG_WEIGHT: 1 for VICReg, LeJEPA's 0.05 / 0.95 for SIGReg; with method=lejepa its
    # example's 0.02 / 0.98 against the invariance loss)
    reg_weight: float | None = None
    # lejepa: the projector's hidden widths, then the projections' (LeJEPA's example's)
    projector: list[int] = field(default_factory=lambda: list(PROJECTOR))
    batch_size: int = 64  # global, split over processes
    steps: int = 2000
    max_minutes: float = 0.0  # stop (and checkpoint) after this much wall-clock; 0: none
    # steps: the learning-rate, EMA and weight-decay schedules span `steps`. minutes: they
    # span max_minutes of training wall-clock (over resumes too) and the run ends then, so
    # a budgeted run always finishes its schedules; `steps` is unused.
    schedule: str = "steps"
    lr: float = 1e-3
    min_lr: float = 1e-6
    warmup: int = 100
    weight_decay: list[float] = field(default_factory=lambda: [0.04, 0.4])
    ema: list[float] = field(default_factory=lambda: [0.996, 1.0])
    grad_clip: float = 1.0
    # AdamW's epsilon: late in a Two Rooms run the encoder's gradients are about 1e-11, so
    # at the default 1e-8 its steps shrink about 1,000-fold while weight decay goes on
    adam_eps: float = 1e-8
    bf16: bool | None = None  # None: where the device has native bf16 kernels
    # With bf16 on, the run moves to fp32 for good once the prediction's typical error
    # (against unit-scale targets: layer-normed features, or MAE's normalised patches)
    # falls below this. bf16 rounds a value near 1 by up to 0.004, so below about 0.03 its
    # rounding of targets and predictions is a large part of what is left to learn: on Two
    # Rooms I-JEPA's loss then stalls at bf16's floor, 20-40x above fp32's, and its probe
    # falls behind (docs/benchmarks.md). MAE's error stays far above it. 0: bf16 throughout.
    # None: 0.03, but 0 for V-JEPA, whose clip probes fp32 did not lift while it cost a
    # quarter of the steps (measured).
    bf16_until_error: float | None = None
    # torch.compile the loss's forward and backward (``compile_loss``: one graph for every
    # mask size). On this project's CPUs 1.07-1.13x faster a bf16 step, 1.02-1.07x fp32,
    # after 80-110 s of compiling (seconds from the cache of an earlier run), and as long
    # again when bf16 gives way to fp32: a gain for long runs, a loss for a 5-minute one
    compile: bool = False
    # loader processes; None: 0 on a CPU, 1 on a GPU (see __post_init__)
    num_workers: int | None = None
    seed: int = 0
    out: str = "runs/pretrain"
    resume: bool = False
    save_every: int = 250
    log_every: int = 25
    rankme_warn: float = 4.0  # warn when the embeddings' effective rank falls below this
    device: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if self.video and not self.context_tubes:  # on frames, refused below as a tube key
            if self.mask_sets not in (None, 1):
                raise ValueError(f"mask_sets={self.mask_sets} with context_tubes=false draws "
                                 "the same context and target every time: set mask_sets=1")
            self.mask_sets = 1
        for name, value in METHOD_DEFAULTS.get(self.method, DEFAULTS).items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        check_lejepa_objective(self.method, self.objective)
        self.reg_weight = reg_weight_of(self.objective, self.reg_weight, self.method)
        check_predictor_pass(self.predictor_pass)
        if self.num_workers is None:
            # On a CPU the step's threads keep every core busy, so a worker process only
            # takes time from them, while a batch's frames and masks take under 2 ms in the
            # loop: 1-7% more images/s without one (docs/benchmarks.md).
            on_cpu = torch.device(pick_device(self.device)).type == "cpu"
            self.num_workers = 0 if on_cpu else 1
        check_ranges(self, positive=("patch_size", "frames", "tubelet", "mask_sets",
                                     "predictor_dim", "predictor_depth", "predictor_heads",
                                     "batch_size", "steps", "save_every", "log_every",
                                     "adam_eps", "mask_targets"),
                     non_negative=("reg_weight", "max_minutes", "lr", "min_lr", "warmup",
                                   "grad_clip", "num_workers", "bf16_until_error"))
        check_loss(self.loss)  # here too, to refuse it before any data is read
        for name in ("weight_decay", "ema"):
            if len(getattr(self, name)) != 2:
                raise ValueError(f"{name} is a [start, end] schedule, got {getattr(self, name)}")
        self.crops()  # a bad crop_scale or crop_ratio is refused here, before any data is read
        if self.method == "lejepa":
            self._check_views()
        for name in ("target_scale", "context_scale"):
            scale = getattr(self, name)
            if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1:
                raise ValueError(f"{name} is a [low, high] fraction of the patch grid with "
                                 f"0 < low <= high <= 1, got {scale}")
        if self.video:  # clips draw V-JEPA's tubes: a sweep of these would change nothing
            if moved := self._moved(FRAME_MASK_KEYS):
                raise ValueError(f"{', '.join(moved)} shape I-JEPA's masks on frames; "
                                 f"method={self.method} with frames={self.frames} "
                                 f"tubelet={self.tubelet} trains on clips with V-JEPA's tube "
                                 "masks: leave them out, or train on frames (frames=1 tubelet=1)")
            # a bad fraction, or a clip it cannot split, is refused before any data is read
            self.tube_masks((self.frames // self.tubelet, 1, 1))
        elif moved := self._moved(TUBE_MASK_KEYS):
            raise ValueError(f"{' and '.join(moved)} {'shape' if len(moved) > 1 else 'shapes'} "
                             f"V-JEPA's tube masks on clips; method={self.method} with "
                             f"frames={self.frames} tubelet={self.tubelet} trains on frames: "
                             "leave them out, or train on clips (method=vjepa, or mae with "
                             "tubelet > 1)")

    def _check_views(self) -> None:
        """LeJEPA's views are a clip's frames, each encoded whole (``tubelet`` unused):
        refuse the masks and crops that would not reach them, and a clip of one view."""
        if self.frames < 2:
            raise ValueError(f"method=lejepa takes each of a clip's frames as a view and needs "
                             f"at least 2: got frames={self.frames}; set frames=4 (the default)")
        check_projector(self.projector)  # refused before any data is read
        if masks := self._moved((*FRAME_MASK_KEYS, *TUBE_MASK_KEYS, "mask_sets", "crop_scale")):
            verb = "shape" if len(masks) > 1 else "shapes"
            raise ValueError(f"{', '.join(masks)} {verb} masks, crops or tubes, and "
                             "method=lejepa uses none: its views are the clip's frames, each "
                             "encoded whole; leave them out")
        if predictor := self._moved(PREDICTOR_KEYS):
            verb = "set" if len(predictor) > 1 else "sets"
            raise ValueError(f"{', '.join(predictor)} {verb} the predictor or its loss, and "
                             "method=lejepa has no predictor: each view's projection is pulled "
                             "to its clip's mean by a squared distance, shaped by projector and "
                             "reg_weight; leave them out")

    def _moved(self, keys: tuple[str, ...]) -> list[str]:
        """The settings among ``keys`` given other values than their defaults (the method's
        own where the field's None stands for it)."""
        default = {f.name: f.default if f.default is not MISSING else f.default_factory()
                   for f in fields(self) if f.name in keys}
        default.update({k: v for k, v in METHOD_DEFAULTS.get(self.method, DEFAULTS).items()
                        if k in keys})
        return [k for k in keys if getattr(self, k) != default[k]]

    def tube_masks(self, grid: tuple[int, int, int]) -> TubeMasks:
        """The tube masks ``context_time`` and ``context_tubes`` ask for on a token ``grid``
        (time, height, width)."""
        return TubeMasks(grid=grid, context_time=self.context_time,
                         context_tubes=self.context_tubes, seed=self.seed)

    def crops(self) -> RandomResizedCrops | None:
        """The crops ``crop_scale`` and ``crop_ratio`` ask for, or None."""
        if self.crop_scale is None:
            return None
        return RandomResizedCrops(tuple(self.crop_scale), tuple(self.crop_ratio), self.seed)

    @property
    def video(self) -> bool:
        """Whether the encoder reads clips (tubelet tokens, tube masks), not frames."""
        return self.method == "vjepa" or (self.method == "mae" and self.tubelet > 1
                                          and self.frames > 1)


# the settings of the multi-block masks on frames (MultiBlockMasks), unused on clips
FRAME_MASK_KEYS = ("fixed_mask_shapes", "mask_targets", "target_scale", "context_scale")
TUBE_MASK_KEYS = ("context_time", "context_tubes")
# the predictor's settings and its loss, which a LeJEPA run has no use for
PREDICTOR_KEYS = ("predictor_dim", "predictor_depth", "predictor_heads", "predictor_pass", "loss")


def jepa_config(cfg: PretrainConfig, image_size: int) -> JEPAConfig:
    """The architecture a pretraining config asks for."""
    enc = ViTConfig(image_size=image_size, patch_size=cfg.patch_size,
                    frames=cfg.frames if cfg.video else 1,
                    tubelet=cfg.tubelet if cfg.video else 1,
                    **preset(cfg.model))
    return JEPAConfig(method=cfg.method, objective=cfg.objective, encoder=enc,
                      predictor_dim=cfg.predictor_dim, predictor_depth=cfg.predictor_depth,
                      predictor_heads=cfg.predictor_heads,
                      predictor_pass=cfg.predictor_pass, loss=cfg.loss,
                      reg_weight=cfg.reg_weight, projector=tuple(cfg.projector))


def param_groups(model: torch.nn.Module) -> list[dict]:
    """Weight decay on matrices only: not on biases, norms or the mask token."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or "mask_token" in name else decay).append(p)
    return [{"params": decay, "decay": True}, {"params": no_decay, "weight_decay": 0.0,
                                               "decay": False}]


# What runs made before a setting existed ran with (their checkpoints' configs lack it).
BEFORE_SETTINGS = {"predictor_pass": "shared"}


def model_from_checkpoint(path: str | Path) -> tuple[JEPA, dict]:
    """A pretrained JEPA and the config that made it."""
    ckpt = load(path)
    expect_kind(ckpt, path, "pretrain")
    cfg = PretrainConfig(**{**BEFORE_SETTINGS, **ckpt["config"]})
    model = JEPA(jepa_config(cfg, ckpt["image_size"]))
    load_matching(model, ckpt["model"], f"checkpoint {path}")
    return model, ckpt


# What a resumed run must share with its checkpoint (the rest, e.g. save_every, may change).
RESUME_KEYS = ("method", "objective", "model", "patch_size", "frames", "tubelet",
               "predictor_dim", "predictor_depth", "predictor_pass", "projector",
               "batch_size", "steps", "seed", "schedule")


LOG_FIELDS = ("step", "loss", "prediction", "regulariser", "lr", "momentum", "bf16",
              "rankme", "images_per_s", "seconds")


class Pretrainer:
    """One pretraining run: build, resume, step, log, checkpoint."""

    def __init__(self, cfg: PretrainConfig, procs: Processes) -> None:
        self.cfg, self.procs = cfg, procs
        self.out = Path(cfg.out)
        self.data = EpisodeDataset.open(cfg.data)
        torch.manual_seed(cfg.seed)
        self.model = JEPA(jepa_config(cfg, self.data.meta.image_size)).to(procs.device)
        self.module = self.model
        if procs.world > 1:
            self.module = torch.nn.parallel.DistributedDataParallel(self.model)
        # what the step calls for the loss: the module, or the module compiled
        self.loss_of = compile_loss(self.module) if cfg.compile else self.module
        # fused: one kernel over every parameter, 1.6 ms a step here against 5.6 ms for
        # the per-tensor loop (measured; about 3% of an I-JEPA step on this CPU)
        self.optimizer = torch.optim.AdamW(param_groups(self.model), lr=cfg.lr,
                                           betas=(0.9, 0.95), eps=cfg.adam_eps,
                                           fused=procs.device.type in ("cpu", "cuda"))
        self.clock = Progress.of(cfg.schedule, cfg.steps, cfg.warmup, cfg.max_minutes)
        total = self.clock.total
        self.lr = WarmupCosine(cfg.lr, total, cfg.warmup, end=cfg.min_lr)
        self.wd = Cosine(cfg.weight_decay[0], cfg.weight_decay[1], total)
        self.momentum = Linear(cfg.ema[0], cfg.ema[1], total)
        self.step = 0
        self.checkpoint = RunCheckpoint(self.out / "last.pt", self.model, self.optimizer,
                                        self.clock, "config", RESUME_KEYS, BEFORE_SETTINGS)
        # what ran is what the checkpoint records: a resume on other hardware keeps it
        cfg.bf16 = resolve_bf16(cfg.bf16, procs.device)
        # the step from which the run trains in fp32 (``bf16_until_error``); None: not yet
        self.fp32_from: int | None = None if cfg.bf16 else 0
        # this run's progress bar, log and counts (set up by ``run``)
        self.bar, self.log = None, None
        self.images, self.last_rank = 0, None

    # -- checkpoints --------------------------------------------------------------------
    @property
    def last(self) -> Path:
        return self.checkpoint.path

    def save(self) -> None:
        if self.procs.main:
            self.checkpoint.save(self.step, asdict(self.cfg), {
                "image_size": self.data.meta.image_size, "env_id": self.data.meta.env_id,
                "fp32_from": self.fp32_from})

    @property
    def bf16(self) -> bool:
        """Whether this step runs under bf16 autocast."""
        return self.fp32_from is None

    # -- data ---------------------------------------------------------------------------
    def loader(self) -> torch.utils.data.DataLoader:
        cfg, enc = self.cfg, self.model.cfg.encoder
        collate: MaskCollator | Callable[[TensorDict], TensorDict]
        if cfg.method == "lejepa":  # its views are the clips' frames: no masks to draw
            dataset, collate = Clips(self.data, cfg.frames), keep_batch
        else:
            if enc.tubelet > 1:
                dataset, masks = Clips(self.data, cfg.frames), cfg.tube_masks(enc.grid)
            else:
                dataset = Frames(self.data)
                masks = MultiBlockMasks(grid=enc.grid, targets=cfg.mask_targets,
                                        target_scale=tuple(cfg.target_scale),
                                        context_scale=tuple(cfg.context_scale),
                                        fixed_shapes=cfg.fixed_mask_shapes, seed=cfg.seed)
            collate = MaskCollator(masks, self.procs.rank, self.procs.world, cfg.mask_sets,
                                   crops=cfg.crops())
        sampler = StepBatchSampler(len(dataset), cfg.batch_size, self.clock.last_step, self.step,
                                   self.procs.rank, self.procs.world, cfg.seed)
        return torch.utils.data.DataLoader(
            dataset, batch_sampler=sampler, num_workers=cfg.num_workers, collate_fn=collate,
            worker_init_fn=ignore_stop_signals, persistent_workers=False,
        )

    # -- training -----------------------------------------------------------------------
    def train_step(self, batch) -> dict[str, float]:
        dev = self.procs.device
        at_lr, at = self.clock.at(self.step, self.clock.seconds)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr(at_lr)
            if group["decay"]:
                group["weight_decay"] = self.wd(at)
        # SIGReg draws its directions from the global generator: seeded by the step, a
        # resumed run draws what an uninterrupted one did, and every process the same
        torch.manual_seed(self.cfg.seed * 1_000_003 + self.step)
        pixels = batch["pixels"].to(dev, non_blocking=True)
        ctx, tgt = mask_sets(batch, dev)
        bf16 = self.bf16
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            loss, parts = self.loss_of(pixels, ctx, tgt)
        if not all_finite(loss):
            raise TrainingError(
                f"the loss became {loss.item()} at step {self.step}; the last good checkpoint "
                f"{self.last} is intact. Lower lr (now {self.lr(at_lr):.2e}) or raise "
                "warmup, then resume=true"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.optimizer.step()
        m = self.momentum(at)
        self.model.update_target(m)
        self.step += 1
        metrics = {"loss": loss.item(), "lr": self.lr(at_lr), "momentum": m, "bf16": int(bf16),
                   **{k: float(v) for k, v in parts.items()}}
        if bf16 and self.cfg.bf16_until_error > 0:
            # every process moves at the same step: the largest error decides
            error = global_max(typical_error(metrics["prediction"], self.model.cfg.loss))
            if error < self.cfg.bf16_until_error:
                self.fp32_from = self.step
                if self.procs.main and self.cfg.progress:
                    tqdm.write(f"step {self.step}: prediction error {error:.3g} is below "
                               f"bf16_until_error={self.cfg.bf16_until_error}; fp32 from here")
        return metrics

    @torch.no_grad()
    def embeddings(self, pixels: torch.Tensor) -> torch.Tensor:
        """Average-pooled encoder features [B, D] (for RankMe)."""
        with torch.autocast(self.procs.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            return self.model.encoder(pixels.to(self.procs.device)).float().mean(1)

    def after_step(self, batch, metrics: dict[str, float], log_row: bool) -> None:
        """Progress bar; with ``log_row``, RankMe and a row of the log (CSV, TensorBoard)."""
        self.images += batch.shape[0] * self.procs.world
        self.bar.update(1)
        if not log_row:
            return
        pixels = batch["pixels"]
        if self.cfg.method == "lejepa":  # a clip of views: its last frame
            pixels = pixels[:, -1]
        embeddings = self.embeddings(pixels)
        self.last_rank = rankme(embeddings)
        warn_if_collapsing(self.last_rank, self.cfg.rankme_warn, self.step, "representation")
        if self.cfg.objective != "ema" and self.step > self.cfg.warmup:
            # past the warmup: at initialisation frames of one scene embed nearly alike.
            # LeJEPA's SIGReg spreads its projections, not the encoder's features.
            spread = metrics.get("spread", float(embeddings.std(0).mean()))
            warn_if_shrinking(spread, SPREAD_WARN, self.step, self.cfg.objective)
        elapsed = self.clock.this_run
        if self.log is not None:
            self.log.write({**metrics, "step": self.step, "rankme": self.last_rank,
                            "images_per_s": self.images / elapsed, "seconds": elapsed})
        self.bar.set_postfix(loss=f"{metrics['loss']:.4f}", rankme=f"{self.last_rank:.1f}")

    def run(self) -> dict:
        cfg = self.cfg
        self.step = self.checkpoint.start(cfg.resume, asdict(cfg), self.procs.device)
        if cfg.resume and cfg.bf16:  # where the interrupted run had moved to fp32, stay
            self.fp32_from = self.checkpoint.restored.get("fp32_from")
        self.out.mkdir(parents=True, exist_ok=True)
        if self.procs.main:
            (self.out / "config.json").write_text(json.dumps(asdict(cfg), indent=2))
        with contextlib.ExitStack() as stack:
            self.bar = stack.enter_context(tqdm(
                total=cfg.steps if self.clock.by_steps else None, initial=self.step,
                desc=f"pretrain {cfg.method}", disable=not (cfg.progress and self.procs.main)))
            if self.procs.main:
                self.log = stack.enter_context(RunLog(self.out / "log.csv", LOG_FIELDS))
            begun, seen, self.images, self.last_rank = time.perf_counter(), self.step, 0, None
            stopped_by = run_steps(self, cfg.log_every, cfg.save_every)
        seconds = time.perf_counter() - begun
        summary = {"checkpoint": str(self.last), "steps": self.step, "seconds": round(seconds, 1),
                   "images_per_s": round(self.images / max(seconds, 1e-9), 1),
                   "steps_this_run": self.step - seen, "rankme": self.last_rank,
                   "fp32_from_step": self.fp32_from if cfg.bf16 else None,
                   "peak_memory_mb": _peak_memory_mb(self.procs.device)}
        if stopped_by is not None:
            summary["stopped_by"] = stopped_by
        if self.procs.main:
            plot = plot_log(self.out / "log.csv", self.out / "pretrain.png", ["loss"])
            summary["plot"] = str(plot)
        return summary


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def pretrain(cfg: PretrainConfig) -> dict:
    """Run ``jepa pretrain``; returns a summary (checkpoint path, speed, RankMe)."""
    procs = setup(pick_device(cfg.device) if cfg.device != "auto" else "auto")
    try:
        return Pretrainer(cfg, procs).run()
    finally:
        teardown()
