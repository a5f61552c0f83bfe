"""Which of a clip encoder's time steps holds the agent's position, and of which frame.

    python bench/clip_time_steps.py <checkpoint> [<checkpoint> ...] --data <episodes>
        [--clips 4000] [--held-out 0.2] [--seed 0] [--state-dims 0 1]

`jepa probe` reads a clip encoder (V-JEPA, or MAE on clips) as the average of all its
tokens and scores the position at the clip's last frame. This bench splits that reading
by the tokenizer's time steps (with tubelet 2, a 4-frame clip has two: frames 1-2 and
3-4): for each checkpoint, the linear probe's held-out R^2 from the tokens of one time
step, or of all, to the state at the last frame of each step. It tells whether the probed
frame's position is in the tokens that cover it, and whether the encoder holds its frames
as well as another method's does (forecast masks train the context encoder on the clip's
first time step only). The probe is `jepa probe`'s linear one (ridge chosen on a fifth of
the training clips), on clips ending at random frames of whole held-out episodes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from worldmodel.data.dataset import EpisodeDataset
from worldmodel.jepa.vit import VisionTransformer
from worldmodel.probe import linear_probe, load_encoder, probed_dims


def clips(data: EpisodeDataset, ids: list[int], n: int, frames: int,
          gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` random clips of episodes ``ids``: pixels [n, frames, C, H, W] and the state of
    each of their frames [n, frames, S]."""
    eps = data.episodes
    length = eps["pixels"].shape[1]
    ep = torch.as_tensor(ids)[torch.randint(len(ids), (n,), generator=gen)]
    end = torch.randint(frames - 1, length, (n,), generator=gen)
    steps = end[:, None] + torch.arange(1 - frames, 1)
    return eps["pixels"][ep[:, None], steps], eps["state"][ep[:, None], steps]


@torch.no_grad()
def tokens(encoder, pixels: torch.Tensor, batch: int = 256) -> torch.Tensor:
    """The encoder's tokens [N, T*H*W, D] (fp32), time step by time step."""
    return torch.cat([encoder.tokens_fp32(pixels[i:i + batch])
                      for i in range(0, len(pixels), batch)])


def read(checkpoint: str, data: EpisodeDataset, n: int, held_out: float, seed: int,
         dims: list[int] | None) -> dict[str, float]:
    """R^2 of the state ``dims`` at each time step's last frame from each time step's
    tokens, and from all."""
    encoder, _, _ = load_encoder(checkpoint, data.meta.image_size)
    if not isinstance(encoder, VisionTransformer) or encoder.cfg.tubelet == 1:
        raise SystemExit(f"{checkpoint} is not a clip encoder's `jepa pretrain` checkpoint "
                         "(V-JEPA, or MAE with tubelet > 1): this bench splits a clip "
                         "encoder's tokens by time step")
    cfg = encoder.cfg
    dims = probed_dims(data.episodes["state"], dims, f"the states of {data.path}")
    encoder.eval()
    gen = torch.Generator().manual_seed(seed)
    train_ids, test_ids = data.split(held_out, seed)
    n_test = max(1, int(n * held_out))
    (px_tr, s_tr), (px_te, s_te) = (clips(data, train_ids, n - n_test, cfg.frames, gen),
                                    clips(data, test_ids, n_test, cfg.frames, gen))
    return by_time_step(tokens(encoder, px_tr), s_tr[..., dims], tokens(encoder, px_te),
                        s_te[..., dims], cfg.tubelet)


def by_time_step(tok_train: torch.Tensor, states_train: torch.Tensor, tok_test: torch.Tensor,
                 states_test: torch.Tensor, tubelet: int) -> dict[str, float]:
    """Held-out R^2 of the linear probe from the mean of each time step's tokens (and of
    all) to the states of each step's last frame: tokens [N, T*H*W, D] in time-major order,
    states [N, T*tubelet, S]. Keys ``"t1->frame4"``: tokens of time step 1 to frame 4
    (frames counted from 1)."""
    steps = states_train.shape[1] // tubelet
    per_step = tok_train.shape[1] // steps
    groups = {"all": slice(None)} | {f"t{i}": slice(i * per_step, (i + 1) * per_step)
                                     for i in range(steps)}
    out = {}
    for name, rows in groups.items():
        f_tr, f_te = tok_train[:, rows].mean(1), tok_test[:, rows].mean(1)
        for i in range(steps):
            frame = (i + 1) * tubelet - 1  # the last frame the step covers
            out[f"{name}->frame{frame + 1}"] = linear_probe(
                f_tr, states_train[:, frame], f_te, states_test[:, frame])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--data", required=True)
    parser.add_argument("--clips", type=int, default=4000)
    parser.add_argument("--held-out", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--state-dims", type=int, nargs="+", default=None,
                        help="the state's dimensions to probe (default: every one that "
                        "varies; the position is 0 1 on Two Rooms and Point Room)")
    parser.add_argument("--out", type=Path, default=None, help="write the table as JSON")
    args = parser.parse_args()
    data = EpisodeDataset.open(args.data)
    table = {c: read(c, data, args.clips, args.held_out, args.seed,
                     args.state_dims) for c in args.checkpoints}
    for checkpoint, row in table.items():
        print(checkpoint)
        for key, value in row.items():
            print(f"  {key:16s} {value:.4f}")
    if args.out:
        args.out.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
