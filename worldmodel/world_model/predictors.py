"""Action-conditioned latent predictors: z_{t+1} = f(z_t, a_t).

``MLPPredictor``: a residual MLP, the fast option. ``ACTransformer``: a transformer over
frames in which each frame contributes an action token and its state token, with
block-causal attention so frame t sees frames up to t (as V-JEPA 2-AC). Both implement the
WorldModel interface (``step``, ``rollout``) batched over candidates.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from worldmodel.jepa.vit import Block, Predictor

from .base import StepRollout


class MLPPredictor(StepRollout, nn.Module):
    """s_{t+1} = s_t + MLP([LN(s_t), a_t, z_t]).

    ``z_dim`` > 0 adds a latent variable z (LeCun's regularised latent): low-dimensional,
    inferred from (s_t, s_{t+1}) during training under a penalty on its size, so it carries
    only what the action cannot explain. Left out (None) it is 0: the mean future.
    """

    def __init__(self, latent_dim: int, action_dim: int, hidden: int = 256,
                 depth: int = 2, z_dim: int = 0) -> None:
        super().__init__()
        layers, d = [], latent_dim + action_dim + z_dim
        for _ in range(depth):
            layers += [nn.Linear(d, hidden), nn.GELU()]
            d = hidden
        self.net = nn.Sequential(*layers, nn.Linear(d, latent_dim))
        self.norm = nn.LayerNorm(latent_dim)
        self.latent_dim, self.action_dim, self.z_dim = latent_dim, action_dim, z_dim

    def with_z(self, actions: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        """actions [..., A], z [..., Z] (None: zeros) -> the model's action input [..., A+Z]."""
        if not self.z_dim:
            if z is not None:
                raise ValueError("this predictor has no latent variable (z_dim=0)")
            return actions
        if z is None:
            z = actions.new_zeros(*actions.shape[:-1], self.z_dim)
        return torch.cat([actions, z.to(actions.dtype)], dim=-1)

    def step(self, state: torch.Tensor, action: torch.Tensor,
             z: torch.Tensor | None = None) -> torch.Tensor:
        """state [B, D], action [B, A], z [B, Z] or None -> [B, D]."""
        inputs = torch.cat([self.norm(state), self.with_z(action, z)], dim=-1)
        return state + self.net(inputs)

    def rollout(self, state: torch.Tensor, actions: torch.Tensor,
                z: torch.Tensor | None = None) -> torch.Tensor:
        """state [B, D], actions [B, H, A], z [B, H, Z] or None -> states [B, H, D], as
        ``step`` H times.

        The first layer splits as W [LN(z), a] = W_z LN(z) + W_a a: the action part of every
        step is one matmul before the loop, and each step multiplies an aligned [B, D]
        block (no concatenation). Planning spends nearly all its time here.
        """
        first, D = self.net[0], self.latent_dim
        w_state = first.weight[:, :D].T.contiguous()  # once, not a strided copy per step
        # Time-major, so each step's slice is contiguous.
        pushed = F.linear(self.with_z(actions, z).transpose(0, 1).contiguous(),
                          first.weight[:, D:], first.bias)  # [H, B, hidden]
        rest = self.net[1:]
        states = state.new_empty(actions.shape[1], *state.shape)
        # Without autograd (planning) each step writes into buffers it owns: no allocation
        # or copy per step, 4% off a 300 x 16 bf16 rollout, the same arithmetic.
        in_place = not torch.is_grad_enabled()
        for t in range(actions.shape[1]):
            if in_place:
                h = pushed[t].addmm_(self.norm(state), w_state)
                state = torch.add(state, rest(h), out=states[t])
            else:
                h = torch.addmm(pushed[t], self.norm(state), w_state)
                state = state + rest(h)
                states[t] = state
        return states.transpose(0, 1)

    def forward(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.rollout(state, actions)


class ACTransformer(nn.Module):
    """Block-causal transformer over (action, state) token pairs, one pair per frame.

    Token 2t is a_t, token 2t+1 is z_t; both may attend to every token of frames <= t. The
    output at z_t's token predicts z_{t+1}.
    """

    def __init__(self, latent_dim: int, action_dim: int, dim: int = 128, depth: int = 4,
                 heads: int = 4, max_frames: int = 32) -> None:
        super().__init__()
        self.state_in = nn.Linear(latent_dim, dim)
        self.action_in = nn.Linear(action_dim, dim)
        self.time = nn.Parameter(torch.zeros(1, max_frames, dim))
        self.kind = nn.Parameter(torch.zeros(1, 2, dim))  # action / state token type
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # as the JEPA predictor's, so it can start one
        self.out = nn.Linear(dim, latent_dim)
        nn.init.trunc_normal_(self.time, std=0.02)
        nn.init.trunc_normal_(self.kind, std=0.02)
        self.latent_dim, self.action_dim, self.max_frames = latent_dim, action_dim, max_frames

    @classmethod
    def from_jepa_predictor(cls, predictor: Predictor, action_dim: int,
                            max_frames: int = 32) -> ACTransformer:
        """Start from a JEPA pretraining predictor (the V-JEPA 2-AC recipe): its transformer
        blocks and final norm carry over, its input embedding becomes the state projection
        and its head the output; the action projection, token types and frame positions are
        new. The encoder's width is the latent width."""
        latent, dim = predictor.embed.in_features, predictor.embed.out_features
        if predictor.head.out_features != latent:
            raise ValueError(f"the predictor maps {latent}-d tokens to "
                             f"{predictor.head.out_features}-d targets; an action-conditioned "
                             "predictor needs the same width in and out")
        model = cls(latent, action_dim, dim=dim, depth=len(predictor.blocks),
                    heads=predictor.blocks[0].attn.heads, max_frames=max_frames)
        model.state_in.load_state_dict(predictor.embed.state_dict())
        model.blocks.load_state_dict(predictor.blocks.state_dict())
        model.norm.load_state_dict(predictor.norm.state_dict())
        model.out.load_state_dict(predictor.head.state_dict())
        return model

    @staticmethod
    def frame_mask(frames: int, device: torch.device) -> torch.Tensor:
        """Boolean [2T, 2T]: a token of frame t may attend to tokens of frames <= t."""
        frame = torch.arange(2 * frames, device=device) // 2
        return frame[None, :] <= frame[:, None]

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Teacher-forced: states [B, T, D] (z_0..z_{T-1}), actions [B, T, A] ->
        predictions [B, T, D] of z_1..z_T."""
        B, T, _ = states.shape
        if self.max_frames < T:
            raise ValueError(f"{T} frames exceed the predictor's max_frames={self.max_frames}")
        a = self.action_in(actions) + self.kind[:, 0]
        z = self.state_in(states) + self.kind[:, 1]
        x = torch.stack([a, z], dim=2) + self.time[:, :T, None]  # [B, T, 2, dim]
        x = x.reshape(B, 2 * T, -1)
        mask = self.frame_mask(T, x.device)
        for block in self.blocks:
            x = block(x, mask)
        return states + self.out(self.norm(x[:, 1::2]))

    def step(self, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        return self.forward(state[:, None], action[:, None])[:, 0]

    def rollout(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Autoregressive: each prediction is appended as the next frame's state.

        Within ``max_frames`` each step runs only the new frame's two tokens, attending to
        the cached keys and values of the frames before it: a token never sees a later
        frame, so the earlier tokens are what a full pass over the prefix would recompute.
        Longer rollouts slide a window of ``max_frames`` frames, whose positions shift every
        step, so they recompute it."""
        if actions.shape[1] <= self.max_frames:
            return self._cached_rollout(state, actions)
        states = state[:, None]
        preds = []
        for t in range(actions.shape[1]):
            window = slice(max(0, t + 1 - self.max_frames), t + 1)
            nxt = self.forward(states[:, window], actions[:, window])[:, -1]
            preds.append(nxt)
            states = torch.cat([states, nxt[:, None]], dim=1)
        return torch.stack(preds, dim=1)

    def _cached_rollout(self, state: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """state [B, D], actions [B, H, A] with H <= max_frames -> states [B, H, D]."""
        past: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.blocks)
        preds = []
        for t in range(actions.shape[1]):
            a = self.action_in(actions[:, t]) + self.kind[:, 0]
            z = self.state_in(state) + self.kind[:, 1]
            x = torch.stack([a, z], dim=1) + self.time[:, t, None]  # [B, 2, dim]: a_t, z_t
            for i, block in enumerate(self.blocks):
                x, past[i] = block.extend(x, past[i])
            state = state + self.out(self.norm(x[:, 1]))
            preds.append(state)
        return torch.stack(preds, dim=1)
