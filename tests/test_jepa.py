"""JEPA core: masks, gather, EMA, losses, checkpoints and resume, DDP, official import, probe."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from worldmodel.distributed import Processes
from worldmodel.jepa import vit
from worldmodel.jepa.checkpoint import CheckpointError, load
from worldmodel.jepa.crops import RandomResizedCrops
from worldmodel.jepa.lejepa import BatchNorm, Projector, views_loss
from worldmodel.jepa.masks import MaskCollator, MultiBlockMasks, TubeMasks, mask_sets
from worldmodel.jepa.model import JEPA, JEPAConfig, compile_loss
from worldmodel.jepa.objectives import rankme, sigreg, vicreg
from worldmodel.jepa.official import import_official
from worldmodel.jepa.pretrain import (
    PretrainConfig,
    Pretrainer,
    TrainingError,
    jepa_config,
    model_from_checkpoint,
    pretrain,
)
from worldmodel.jepa.vit import (
    Predictor,
    TargetBlocks,
    VisionTransformer,
    ViTConfig,
    attend,
    gather_tokens,
)
from worldmodel.run_log import RunLog, read_log

TINY = {"dim": 32, "depth": 2, "heads": 2}


def tiny_encoder(**kw) -> VisionTransformer:
    return VisionTransformer(ViTConfig(image_size=32, patch_size=8, **{**TINY, **kw}))


def test_multiblock_masks_shapes_and_disjointness():
    ctx, tgt = MultiBlockMasks(grid=(8, 8)).sample(16, step=3)
    assert ctx.shape[0] == tgt.shape[0] == 16 and tgt.shape[1] == 4
    assert ctx.max() < 64 and tgt.max() < 64
    for c, t in zip(ctx, tgt, strict=True):
        assert not set(c.tolist()) & set(t.flatten().tolist())  # context excludes targets
        assert len(set(c.tolist())) == len(c)
    # Target blocks are 15-20% of the grid (rounded to whole patches).
    assert 6 <= tgt.shape[2] <= 16
    again, _ = MultiBlockMasks(grid=(8, 8)).sample(16, step=3)
    assert torch.equal(ctx, again)  # seeded by the step


def test_fixed_shape_masks_keep_shapes_and_move_blocks():
    masks = MultiBlockMasks(grid=(8, 8), fixed_shapes=True)
    shapes, places = set(), set()
    for step in range(30):
        ctx, tgt = masks.sample(16, step)
        shapes.add((tuple(ctx.shape), tuple(tgt.shape)))
        places.add(tuple(tgt[0, 0].tolist()))
        for c, t in zip(ctx, tgt, strict=True):
            assert not set(c.tolist()) & set(t.flatten().tolist())
            assert len(set(c.tolist())) == len(c)
    assert len(shapes) == 1  # one shape for every step: the kernels are planned once
    assert len(places) > 5  # while the blocks still move
    (ctx_shape, tgt_shape), = shapes
    assert ctx_shape[1] == 16 and tgt_shape[1:] == (4, 12)


def test_tube_masks_span_the_whole_clip():
    ctx, tgt = TubeMasks(grid=(2, 4, 4)).sample(8, step=0)
    assert tgt.shape[:2] == (8, 1)
    for c, t in zip(ctx, tgt[:, 0], strict=True):
        assert not set(c.tolist()) & set(t.tolist())
        spatial = {int(i) % 16 for i in t}
        assert {int(i) for i in t} == {s + 16 * f for s in spatial for f in range(2)}


def test_causal_tube_masks_leave_the_clips_end_to_the_targets():
    # V-JEPA's max_temporal_keep: the context spans the first half of the time steps, the
    # tubes stop there, and every token after it is a target
    masks = TubeMasks(grid=(4, 4, 4), context_time=0.5)
    assert masks.context_steps == 2
    for step in (0, 1):  # a short- and a long-range draw
        ctx, tgt = masks.sample(8, step)
        for c, t in zip(ctx, tgt[:, 0], strict=True):
            c, t = set(c.tolist()), set(t.tolist())
            assert c and not c & t and max(c) < 32
            assert set(range(32, 64)) <= t  # the last two time steps, whole
            spatial = {i % 16 for i in t if i < 32}
            assert {i for i in t if i < 32} == {s + 16 * f for s in spatial for f in range(2)}
    assert TubeMasks(grid=(4, 4, 4), context_time=0.1).context_steps == 1  # never empty
    with pytest.raises(ValueError, match="context_time .* in \\(0, 1\\]"):
        TubeMasks(context_time=0.0)


def test_forecast_masks_give_the_whole_start_and_predict_the_whole_end():
    masks = TubeMasks(grid=(4, 4, 4), context_time=0.75, context_tubes=False)
    for step in (0, 1):  # a short- and a long-range draw with tubes; both the same without
        ctx, tgt = masks.sample(3, step)
        assert ctx.tolist() == [list(range(48))] * 3
        assert tgt.shape == (3, 1, 16) and tgt[:, 0].tolist() == [list(range(48, 64))] * 3
    with pytest.raises(ValueError, match="context_time below 1"):
        TubeMasks(context_tubes=False)  # no time left for the targets


def test_collator_gives_each_process_its_share_of_the_global_masks():
    from tensordict import TensorDict

    batch = TensorDict({"step": torch.full((4,), 7)}, batch_size=[4])
    masks = MultiBlockMasks(grid=(8, 8))
    whole = MaskCollator(masks, 0, 1)(TensorDict({"step": torch.full((8,), 7)}, [8]))
    second = MaskCollator(masks, 1, 2)(batch.clone())
    assert torch.equal(second["masks", "0", "context_idx"], whole["masks", "0", "context_idx"][4:])
    assert torch.equal(second["masks", "0", "target_idx"], whole["masks", "0", "target_idx"][4:])


def test_random_resized_crops_cut_their_box_and_share_it_across_a_clip():
    crops = RandomResizedCrops(scale=(0.3, 1.0), ratio=(0.75, 4 / 3))
    boxes = crops.boxes(500, step=5, height=64, width=64)
    cx, cy, w, h = boxes.unbind(1)
    assert (cx - w / 2 >= 0).all() and (cx + w / 2 <= 1 + 1e-6).all()  # inside the frame
    assert (cy - h / 2 >= 0).all() and (cy + h / 2 <= 1 + 1e-6).all()
    assert (w * h >= 0.3 - 1e-6).all() and (w * h <= 1 + 1e-6).all()
    assert ((w / h >= 0.75 - 1e-6) & (w / h <= 4 / 3 + 1e-6)).all()
    assert torch.equal(boxes, crops.boxes(500, 5, 64, 64))  # seeded by the step
    assert not torch.equal(boxes, crops.boxes(500, 6, 64, 64))
    # the whole frame gives the frame back; the left half of a ramp stretches its left half
    ramp = (torch.arange(64) * 4).to(torch.uint8).expand(2, 3, 64, 64)
    whole = torch.tensor([[0.5, 0.5, 1.0, 1.0]] * 2)
    assert torch.equal(crops(ramp, whole), ramp)
    left = crops(ramp, torch.tensor([[0.25, 0.5, 0.5, 1.0]] * 2)).float()
    assert left[..., 0].max() <= 2 and 120 <= left[..., -1].min() <= 126
    assert (left.diff(dim=-1) >= 0).all()
    # a clip's frames share their sample's box
    clip = torch.randint(0, 255, (2, 4, 3, 16, 16), dtype=torch.uint8)
    box = crops.boxes(2, 0, 16, 16)
    out = crops(clip, box)
    assert out.shape == clip.shape and out.dtype == torch.uint8
    for t in range(4):
        assert torch.equal(out[:, t], crops(clip[:, t], box))
    with pytest.raises(ValueError, match="crop scale .* 0 < low <= high <= 1"):
        RandomResizedCrops(scale=(0.0, 1.0))
    with pytest.raises(ValueError, match="crop ratio is a \\[low, high\\] pair"):
        RandomResizedCrops(ratio=(1.0,))


def test_crops_reach_the_loader_and_each_process_gets_its_share(two_rooms_data, tmp_path):
    from tensordict import TensorDict

    masks, crops = MultiBlockMasks(grid=(4, 4)), RandomResizedCrops()
    pixels = torch.randint(0, 255, (8, 3, 32, 32), dtype=torch.uint8)

    def batch(rows: slice) -> TensorDict:
        n = len(range(8)[rows])
        return TensorDict({"step": torch.full((n,), 4), "pixels": pixels[rows]}, [n])

    whole = MaskCollator(masks, 0, 1, crops=crops)(batch(slice(None)))
    second = MaskCollator(masks, 1, 2, crops=crops)(batch(slice(4, None)))
    assert torch.equal(second["pixels"], whole["pixels"][4:])
    assert not torch.equal(whole["pixels"], pixels)
    with pytest.raises(ValueError, match="crop scale"):
        PretrainConfig(crop_scale=[0.5, 1.5])
    cfg = _cfg(two_rooms_data, tmp_path / "crops", crop_scale=[0.3, 0.3])
    cropped = next(iter(Pretrainer(cfg, Processes(0, 1, torch.device("cpu"))).loader()))
    cfg = _cfg(two_rooms_data, tmp_path / "plain")
    plain = next(iter(Pretrainer(cfg, Processes(0, 1, torch.device("cpu"))).loader()))
    assert torch.equal(cropped["state"], plain["state"])  # the same frames, cropped
    assert cropped["pixels"].shape == plain["pixels"].shape
    assert not torch.equal(cropped["pixels"], plain["pixels"])


def test_mask_sets_are_independent_draws_and_vjepa_gets_both_ranges():
    from tensordict import TensorDict

    batch = TensorDict({"step": torch.full((8,), 3)}, batch_size=[8])
    contexts, targets = mask_sets(MaskCollator(MultiBlockMasks(grid=(8, 8)), sets=3)(batch))
    assert len(contexts) == len(targets) == 3
    one, = mask_sets(MaskCollator(MultiBlockMasks(grid=(8, 8)))(batch.clone()))[1]
    assert torch.equal(one, targets[0])  # the first set is the single-set draw
    assert not torch.equal(targets[0], targets[1]) and not torch.equal(targets[1], targets[2])
    # V-JEPA: a short-range set (8 blocks at 0.15) and a long-range one (2 blocks at 0.7,
    # the larger target) in the same step, whichever the step
    for step in (0, 1, 2, 3):
        tubes = TensorDict({"step": torch.full((4,), step)}, batch_size=[4])
        _, sets = mask_sets(MaskCollator(TubeMasks(grid=(4, 8, 8)), sets=2)(tubes))
        short, long = sets if step % 2 == 0 else sets[::-1]
        assert short.shape[2] < long.shape[2]
    with pytest.raises(ValueError, match="at least 1"):
        MaskCollator(MultiBlockMasks(grid=(8, 8)), sets=0)


def test_one_target_pass_serves_every_mask_set():
    """The loss over mask sets is the mean of each set's loss alone, the target encoder
    runs once for all of them, and its rows equal its full forward there."""
    torch.manual_seed(0)
    enc = ViTConfig(image_size=32, **TINY)
    model = JEPA(JEPAConfig(encoder=enc, predictor_dim=16, predictor_depth=1,
                            predictor_heads=2))
    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    masks = MultiBlockMasks(grid=enc.grid)
    sets = [masks.sample(2, step=0, stream=s) for s in range(2)]
    alone = [model(x, c, t)[0] for c, t in sets]
    calls = []
    hook = model.target_encoder.register_forward_hook(lambda *_: calls.append(1))
    together, parts = model(x, [c for c, _ in sets], [t for _, t in sets])
    hook.remove()
    torch.testing.assert_close(together, sum(alone) / 2)
    torch.testing.assert_close(parts["prediction"], together.detach())
    assert len(calls) == 1
    with pytest.raises(ValueError, match="one target_idx per context_idx"):
        model(x, [sets[0][0]], [t for _, t in sets])


def test_gather_masking_runs_the_encoder_on_kept_tokens_only():
    enc = tiny_encoder()
    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    full = enc(x)
    assert full.shape == (2, 16, 32)
    every = torch.arange(16).expand(2, -1)
    torch.testing.assert_close(enc(x, keep=every), full)
    kept = enc(x, keep=torch.tensor([[0, 5], [3, 9]]))
    assert kept.shape == (2, 2, 32)


@pytest.mark.parametrize("video", [False, True])
def test_embedding_the_kept_patches_alone_equals_gathering_all(video):
    enc = tiny_encoder(frames=4, tubelet=2) if video else tiny_encoder()
    x = torch.randint(0, 255, (3, 4, 3, 32, 32) if video else (3, 3, 32, 32),
                      dtype=torch.uint8)
    n = enc.cfg.num_tokens
    keep = torch.stack([torch.randperm(n)[:n // 2] for _ in range(3)])
    torch.testing.assert_close(enc.embed(x, keep), gather_tokens(enc.embed(x), keep))


def test_predictor_blocks_are_independent():
    pred = Predictor((4, 4), 32, dim=16, depth=2, heads=2)
    ctx, cidx = torch.randn(2, 5, 32), torch.randint(0, 16, (2, 5))
    tidx = torch.randint(0, 16, (2, 3, 4))
    together = pred(ctx, cidx, tidx)
    alone = torch.cat([pred(ctx, cidx, tidx[:, j:j + 1]) for j in range(3)], 1)
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-5)


def test_predictor_mask_tokens_see_their_own_block_only():
    """A mask token's prediction depends on where its block's other tokens are (the block
    attends within itself), never on another block's; the last block, computed on the
    target rows alone, gives what the full block gives there."""
    torch.manual_seed(0)
    pred = Predictor((4, 4), 32, dim=16, depth=2, heads=2)
    ctx, cidx = torch.randn(1, 5, 32), torch.randint(0, 16, (1, 5))
    tidx = torch.tensor([[[1, 2, 3], [8, 9, 10]]])
    moved = tidx.clone()
    moved[0, 0, 2] = 7  # one token of block 0 elsewhere
    before, after = pred(ctx, cidx, tidx), pred(ctx, cidx, moved)
    assert not torch.allclose(before[0, 0, :2], after[0, 0, :2])
    torch.testing.assert_close(before[0, 1], after[0, 1])
    layout = TargetBlocks(5, 2, 3)
    x = torch.randn(1, 11, 16)
    mask = layout.mask()
    torch.testing.assert_close(pred.blocks[0](x, mask, layout.targets),
                               pred.blocks[0](x, mask)[:, 5:])


def test_compiled_loss_is_the_eager_loss_with_one_graph_for_every_context_size():
    """The loss compiled with dynamic shapes (``compile=true``) gives the eager loss and
    gradients, and the paper's masks, whose context size changes from step to step, do not
    make it compile again for each size (a slice's bound did: one graph per size)."""
    from torch._dynamo.testing import CompileCounterWithBackend

    torch._dynamo.reset()
    torch.manual_seed(0)
    cfg = JEPAConfig(encoder=ViTConfig(image_size=64, patch_size=8, **TINY), predictor_dim=16,
                     predictor_depth=2, predictor_heads=2)
    eager = JEPA(cfg)
    compiled = JEPA(cfg)
    compiled.load_state_dict(eager.state_dict())
    counter = CompileCounterWithBackend("aot_eager")  # AOTAutograd's tracing, no codegen
    loss_of = compile_loss(compiled, backend=counter)
    masks = MultiBlockMasks(grid=cfg.encoder.grid)
    x = torch.randint(0, 255, (4, 3, 64, 64), dtype=torch.uint8)
    sizes, graphs = [], []
    for step in range(9):
        ctx, tgt = masks.sample(4, step)
        sizes.append(ctx.shape[1])
        want, got = eager(x, ctx, tgt)[0], loss_of(x, ctx, tgt)[0]
        torch.testing.assert_close(got, want)
        want.backward()
        got.backward()
        graphs.append(counter.frame_count)
    for (name, a), b in zip(eager.named_parameters(), compiled.parameters(), strict=True):
        if a.grad is not None:
            torch.testing.assert_close(b.grad, a.grad, msg=name)
    # The first draw's context is as large as its target blocks (12 tokens each), which
    # the compiler would otherwise take to hold; then new context sizes come and no new
    # graph does.
    assert len(set(sizes)) >= 4
    assert graphs[-1] == graphs[0]
    torch._dynamo.reset()


def test_per_block_predictor_is_one_full_attention_pass_per_block():
    """per_block: each block's predictions are a pass over the context and that block's
    mask tokens, all attending to all (the papers' predictor), so the context sees the
    mask tokens; the shared pass's context does not, and with large weights they differ."""
    torch.manual_seed(0)
    pred = Predictor((4, 4), 32, dim=16, depth=2, heads=2, per_block=True)
    with torch.no_grad():
        for p in pred.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    ctx, cidx = torch.randn(2, 5, 32), torch.randint(0, 16, (2, 5))
    tidx = torch.randint(0, 16, (2, 3, 4))
    together = pred(ctx, cidx, tidx)
    assert together.shape == (2, 3, 4, 32)
    for j in range(3):
        x = torch.cat([pred.embed(ctx) + pred.pos_embed[cidx],
                       pred.mask_token + pred.pos_embed[tidx[:, j]]], 1)
        for block in pred.blocks:
            x = block(x)  # no mask: every token attends to every other
        torch.testing.assert_close(together[:, j], pred.head(pred.norm(x[:, 5:])))
    pred.per_block = False
    assert not torch.allclose(pred(ctx, cidx, tidx), together, atol=1e-3)


def test_the_predictor_pass_defaults_to_per_block_for_vjepa_alone(tmp_path):
    base = dict(data=str(tmp_path), out=str(tmp_path / "run"))
    assert PretrainConfig(**base).predictor_pass == "shared"  # I-JEPA's four blocks
    assert PretrainConfig(**base, method="vjepa").predictor_pass == "per_block"  # tubes
    assert PretrainConfig(**base, method="mae", frames=4, tubelet=2).predictor_pass \
        == "shared"
    assert PretrainConfig(**base, method="vjepa", predictor_pass="shared").predictor_pass \
        == "shared"
    with pytest.raises(ValueError, match="predictor_pass must be shared .* or per_block"):
        PretrainConfig(**base, predictor_pass="blockwise")
    model = JEPA(jepa_config(PretrainConfig(**base, method="vjepa"), 32))
    assert model.predictor.per_block


def test_encoder_rows_give_the_full_outputs_there():
    """The target encoder's last block computed on the target rows alone (repeats allowed,
    different rows per example) gives what the full forward gives at those rows; a shared
    attention mask with per-example rows is refused."""
    torch.manual_seed(0)
    vit = VisionTransformer(ViTConfig(image_size=32, **TINY))
    x = torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)
    rows = torch.tensor([[0, 5, 5, 15], [1, 2, 3, 4], [15, 14, 0, 7]])
    torch.testing.assert_close(vit(x, rows=rows), gather_tokens(vit(x), rows))
    with pytest.raises(ValueError, match="the index they start at"):
        vit.blocks[0](torch.randn(3, 16, TINY["dim"]), torch.ones(16, 16, dtype=torch.bool),
                      rows)


@pytest.mark.parametrize("masked", [False, True])
def test_cpu_attention_matches_sdpa(masked):
    # The CPU path (mask as an additive bias, scale on the product) against PyTorch's own.
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 7, 8, generator=gen, requires_grad=True)
    k, v = (torch.randn(2, 3, 9, 8, generator=gen, requires_grad=True) for _ in range(2))
    mask = torch.rand(7, 9, generator=gen) > 0.5 if masked else None
    if masked:
        mask[:, 0] = True  # every query sees at least one key
    ours = attend(q, k, v, mask)
    grads = torch.autograd.grad(ours.pow(2).sum(), (q, k, v))
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref_grads = torch.autograd.grad(ref.pow(2).sum(), (q, k, v))
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-5, rtol=1e-5)


def test_cpu_attention_takes_sdpa_only_without_autograd_over_many_queries():
    # An encoder's inference pass takes SDPA's kernel; a training pass and a rollout's
    # few new tokens keep the batched products. Both give the same values.
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 40, 8, generator=gen, requires_grad=True)
    k, v = (torch.randn(2, 3, 40, 8, generator=gen) for _ in range(2))

    def kernels(q: torch.Tensor) -> tuple[set[str], torch.Tensor]:
        with torch.profiler.profile() as ran:
            out = attend(q, k, v)
        return {event.key for event in ran.key_averages()}, out

    trained, reference = kernels(q)
    with torch.no_grad():
        inferred, out = kernels(q)
        few, _ = kernels(q[:, :, :2])
    assert "aten::scaled_dot_product_attention" in inferred
    assert "aten::scaled_dot_product_attention" not in trained | few
    torch.testing.assert_close(out, reference.detach(), atol=1e-5, rtol=1e-5)


def test_residual_outputs_start_smaller_with_depth():
    torch.manual_seed(0)
    encoder = VisionTransformer(ViTConfig(image_size=64, patch_size=8, dim=192, depth=6,
                                          heads=3))
    predictor = Predictor(encoder.cfg.grid, 192, 96, depth=4)
    for blocks in (encoder.blocks, predictor.blocks):
        for layer, block in enumerate(blocks, start=1):
            want = 0.02 / (2 * layer) ** 0.5  # trunc_normal std 0.02, then the rescale
            for linear in (block.attn.proj, block.mlp[2]):
                assert linear.weight.std().item() == pytest.approx(want, rel=0.1)
            assert block.attn.qkv.weight.std().item() == pytest.approx(0.02, rel=0.1)


def test_ema_update():
    model = JEPA(JEPAConfig(encoder=ViTConfig(image_size=32, **TINY)))
    with torch.no_grad():
        for p in model.context_encoder.parameters():
            p.add_(1.0)
    before = [p.clone() for p in model.target_encoder.parameters()]
    model.update_target(0.9)
    for t, c, b in zip(model.target_encoder.parameters(), model.context_encoder.parameters(),
                       before, strict=True):
        torch.testing.assert_close(t, 0.9 * b + 0.1 * c)
    assert not any(p.requires_grad for p in model.target_encoder.parameters())


@pytest.mark.parametrize("method,objective", [("ijepa", "ema"), ("ijepa", "vicreg"),
                                              ("ijepa", "sigreg"), ("mae", "ema"),
                                              ("vjepa", "ema")])
def test_each_loss_on_tiny_inputs(method, objective):
    video = method == "vjepa"
    enc = ViTConfig(image_size=32, frames=4 if video else 1, tubelet=2 if video else 1, **TINY)
    model = JEPA(JEPAConfig(method=method, objective=objective, encoder=enc,
                            predictor_dim=16, predictor_depth=1, predictor_heads=2))
    shape = (2, 4, 3, 32, 32) if video else (2, 3, 32, 32)
    x = torch.randint(0, 255, shape, dtype=torch.uint8)
    masks = TubeMasks(grid=enc.grid) if video else MultiBlockMasks(grid=enc.grid)
    ctx, tgt = masks.sample(2, step=0)
    loss, parts = model(x, ctx, tgt)
    loss.backward()
    assert torch.isfinite(loss) and loss > 0
    assert all(p.grad is not None for p in model.predictor.parameters() if p.requires_grad)
    assert ("regulariser" in parts) == (objective != "ema")


def test_loss_option_picks_the_prediction_loss():
    """``loss`` overrides the method's own: on one model and one mask draw, smooth L1 (the
    default for I-JEPA) lies under both half the mse and the l1, which it would equal if
    the option were ignored."""
    torch.manual_seed(0)
    enc = ViTConfig(image_size=32, **TINY)
    kw = dict(encoder=enc, predictor_dim=16, predictor_depth=1, predictor_heads=2)
    own = JEPA(JEPAConfig(**kw))
    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    ctx, tgt = MultiBlockMasks(grid=enc.grid).sample(2, step=0)
    losses = {}
    for loss in ("smooth_l1", "mse", "l1"):
        model = JEPA(JEPAConfig(loss=loss, **kw))
        model.load_state_dict(own.state_dict())
        losses[loss] = model(x, ctx, tgt)[0].item()
    assert own(x, ctx, tgt)[0].item() == pytest.approx(losses["smooth_l1"])  # I-JEPA's own
    # per error e: smooth_l1 = e^2 / 2 under |e| = 1, |e| - 1/2 above; both below |e|
    assert losses["smooth_l1"] < losses["mse"] / 2 and losses["smooth_l1"] < losses["l1"]
    for bad in (lambda: JEPAConfig(loss="huber", **kw), lambda: PretrainConfig(loss="huber")):
        with pytest.raises(ValueError, match="loss must be one of smooth_l1, l1, mse"):
            bad()


def test_regularisers_penalise_collapse():
    gen = torch.Generator().manual_seed(0)
    spread = torch.randn(512, 16, generator=gen)
    collapsed = torch.ones(512, 16) + 1e-3 * torch.randn(512, 16, generator=gen)
    assert vicreg(collapsed) > vicreg(spread) + 0.5
    assert sigreg(collapsed, generator=gen) > 10 * sigreg(spread, generator=gen)
    assert rankme(spread) > 12 and rankme(collapsed[:, :1] * torch.ones(1, 16)) < 2


def test_sigreg_is_lejepas_test_statistic():
    """N times the integral, as LeJEPA has it: on normal samples about the same at every
    batch size (so one weight serves any batch), on a batch collapsed to a point N times a
    constant; and computed in fp32 under bf16 autocast, as without it."""
    gen = torch.Generator().manual_seed(0)

    def mean_on_normal(n: int) -> float:
        return sum(sigreg(torch.randn(n, 32, generator=gen), generator=gen).item()
                   for _ in range(20)) / 20

    small, large = mean_on_normal(16), mean_on_normal(256)
    assert 0.5 < small < 2 and large == pytest.approx(small, rel=0.15)
    point = [sigreg(torch.zeros(n, 32)).item() for n in (16, 256)]
    assert point[1] == pytest.approx(16 * point[0]) and point[0] > 4 * small
    z = torch.randn(16, 32, generator=gen)
    plain = sigreg(z, generator=torch.Generator().manual_seed(1))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under = sigreg(z, generator=torch.Generator().manual_seed(1))
        covariance = vicreg(z)
    assert under.dtype == torch.float32 and under.item() == plain.item()
    assert covariance.item() == vicreg(z).item()


def test_lejepa_pulls_views_together_and_spreads_them_apart():
    """Views that agree cost no invariance; projections collapsed to a point cost SIGReg its
    point value, far above a normal batch's; the model encodes each frame of a clip as a
    view, and its gradient reaches the encoder and the projector (there is no predictor)."""
    gen = torch.Generator().manual_seed(0)
    normal = torch.randn(64, 8, generator=gen)
    same = views_loss(torch.stack([normal, normal]))[1]
    assert same["prediction"] == 0 and 0.5 < same["regulariser"] < 2
    assert same["spread"] == pytest.approx(1, abs=0.15)
    point = views_loss(torch.zeros(2, 64, 8))[1]
    assert point["regulariser"] > 10 * same["regulariser"] and point["spread"] == 0
    apart = views_loss(torch.stack([normal, torch.randn(64, 8, generator=gen)]))[1]
    # each view lies half their difference from the mean: a variance of (1 + 1) / 4
    assert apart["prediction"] == pytest.approx(0.5, abs=0.1)
    with pytest.raises(ValueError, match="at least 2 views"):
        views_loss(normal[None])

    enc = ViTConfig(image_size=32, **TINY)
    model = JEPA(JEPAConfig(method="lejepa", objective="sigreg", encoder=enc,
                            projector=(64, 64, 8)))
    assert model.predictor is None and model.target_encoder is None
    clips = torch.randint(0, 255, (4, 3, 3, 32, 32), dtype=torch.uint8)
    loss, parts = model(clips, [], [])
    loss.backward()
    assert torch.isfinite(loss) and parts["prediction"] > 0 and parts["regulariser"] > 0
    assert all(p.grad is not None for p in model.parameters())
    with pytest.raises(ValueError, match="clips"):
        model(clips[:, 0], [], [])
    for bad, match in ((dict(objective="ema"), "leave objective out"),
                       (dict(frames=1), "at least 2"),
                       (dict(target_scale=[0.1, 0.2]), "target_scale shapes masks"),
                       (dict(mask_sets=2), "mask_sets shapes masks"),
                       (dict(loss="l1", predictor_depth=2),
                        "predictor_depth, loss set the predictor"),
                       (dict(predictor_pass="per_block"), "has no predictor"),
                       (dict(projector=[64, 0]), "positive widths")):
        with pytest.raises(ValueError, match=match):
            PretrainConfig(method="lejepa", **bad)


def test_projector_batch_norm_is_training_batch_norm_and_normalises_the_batch():
    torch.manual_seed(0)
    x = 3 + 0.01 * torch.randn(16, 8)
    norm = BatchNorm(8)
    torch.testing.assert_close(norm(x), F.batch_norm(x, None, None, norm.weight, norm.bias,
                                                     training=True), atol=1e-4, rtol=1e-3)
    out = Projector(8, (32, 4))(x)
    assert out.shape == (16, 4)
    hidden = Projector(8, (32, 4)).layers[:2](3 + 0.1 * torch.randn(16, 8))
    assert hidden.std(0, unbiased=False).mean().item() == pytest.approx(1, abs=0.01)


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="not divisible by the patch size"):
        ViTConfig(image_size=30, patch_size=8)
    video = VisionTransformer(ViTConfig(image_size=32, frames=4, tubelet=2, **TINY))
    with pytest.raises(ValueError, match="tubelet"):
        video(torch.zeros(1, 1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="expected images"):
        tiny_encoder()(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def _cfg(data, out, **kw) -> PretrainConfig:
    base = dict(data=str(data.path), model="micro", patch_size=16, batch_size=8, steps=6,
                warmup=2, log_every=3, save_every=3, num_workers=0, out=str(out),
                progress=False, bf16=False)
    if kw.get("method") != "lejepa":  # LeJEPA has no predictor and refuses its settings
        base.update(predictor_dim=32, predictor_depth=1, predictor_heads=2)
    return PretrainConfig(**{**base, **kw})


@pytest.mark.parametrize("method", ["ijepa", "lejepa"])
def test_resume_gives_the_same_result_as_an_uninterrupted_run(two_rooms_data, tmp_path, method):
    kw = dict(method=method, projector=[32, 8]) if method == "lejepa" else {}
    pretrain(_cfg(two_rooms_data, tmp_path / "straight", **kw))
    pretrain(_cfg(two_rooms_data, tmp_path / "halves", steps=6, max_minutes=1e-9, **kw))
    first = load(tmp_path / "halves" / "last.pt")
    assert first["step"] < 6
    pretrain(_cfg(two_rooms_data, tmp_path / "halves", resume=True, **kw))
    a = load(tmp_path / "straight" / "last.pt")["model"]
    b = load(tmp_path / "halves" / "last.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)
    # The resumed run's log continues the first half's, under one header.
    straight, halves = (read_log(tmp_path / run / "log.csv") for run in ("straight", "halves"))
    assert [r["step"] for r in halves] == [r["step"] for r in straight] == [3, 6]
    for x, y in zip(straight, halves, strict=True):
        assert x["loss"] == pytest.approx(y["loss"]) and x["rankme"] == pytest.approx(y["rankme"])
    assert (tmp_path / "halves" / "pretrain.png").exists()


def test_compile_trains_the_run_eager_would(two_rooms_data, tmp_path, monkeypatch):
    """``compile=true`` runs the step's loss through torch.compile (here its AOTAutograd
    tracing without code generation, which CI has no time for) and ends on the weights the
    eager run ends on; on a CPU with no C++ compiler it is refused before any step."""
    compiled, real_compile = [], torch.compile

    def compile_spy(module, **kw):
        compiled.append(module)
        return real_compile(module, **{**kw, "backend": "aot_eager"})

    torch._dynamo.reset()
    pretrain(_cfg(two_rooms_data, tmp_path / "eager", steps=4))
    monkeypatch.setattr(torch, "compile", compile_spy)
    # aot_eager builds no C++: the run needs no compiler on the host that tests it
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")
    pretrain(_cfg(two_rooms_data, tmp_path / "compiled", steps=4, compile=True))
    assert len(compiled) == 1
    a = load(tmp_path / "eager" / "last.pt")["model"]
    b = load(tmp_path / "compiled" / "last.pt")["model"]
    for key in a:
        torch.testing.assert_close(b[key], a[key], msg=key)
    torch._dynamo.reset()
    # with no C++ compiler to build the compiled step, refused before any step, by name
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ValueError, match="needs a C\\+\\+ compiler .* compile=false"):
        pretrain(_cfg(two_rooms_data, tmp_path / "no-compiler", compile=True))
    assert not (tmp_path / "no-compiler" / "last.pt").exists()


@pytest.mark.filterwarnings("ignore:bf16=true:RuntimeWarning")  # emulated bf16 is obeyed
def test_bf16_gives_way_to_fp32_for_good_once_the_error_is_below_its_rounding(two_rooms_data,
                                                                            tmp_path):
    # A threshold above any error: the first step runs in bf16, every later one in fp32,
    # and a resumed run stays there. With 0, bf16 throughout.
    def run(name: str, until: float, **kw) -> tuple[dict, list[int]]:
        summary = pretrain(_cfg(two_rooms_data, tmp_path / name, bf16=True, log_every=1,
                                steps=4, bf16_until_error=until, **kw))
        return summary, [r["bf16"] for r in read_log(tmp_path / name / "log.csv")]

    summary, bf16 = run("switched", 100.0)
    assert summary["fp32_from_step"] == 1 and bf16 == [1, 0, 0, 0]
    assert load(tmp_path / "switched" / "last.pt")["fp32_from"] == 1
    first, _ = run("halves", 100.0, max_minutes=1e-9)
    assert 1 <= first["steps"] < 4
    assert run("halves", 100.0, resume=True)[1] == [1, 0, 0, 0]
    summary, bf16 = run("kept", 0.0)
    assert summary["fp32_from_step"] is None and bf16 == [1, 1, 1, 1]
    # the default: the switch for I-JEPA and MAE, bf16 throughout for V-JEPA
    assert PretrainConfig(method="ijepa").bf16_until_error == 0.03
    assert PretrainConfig(method="vjepa").bf16_until_error == 0.0
    with pytest.raises(ValueError, match="bf16_until_error must be zero or more"):
        PretrainConfig(bf16_until_error=-1.0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_loses_no_step(two_rooms_data, tmp_path, signal_at_step, sig):
    """Ctrl-C or SIGTERM mid-step: that step finishes and is checkpointed (save_every is
    far off), the handlers are put back, and resume=true ends where a straight run does."""
    pretrain(_cfg(two_rooms_data, tmp_path / "straight"))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    signal_at_step(sig, 2)
    stopped = pretrain(_cfg(two_rooms_data, tmp_path / "run", save_every=100))
    assert stopped["stopped_by"] == sig.name and load(tmp_path / "run" / "last.pt")["step"] == 2
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    pretrain(_cfg(two_rooms_data, tmp_path / "run", save_every=100, resume=True))
    a = load(tmp_path / "straight" / "last.pt")["model"]
    b = load(tmp_path / "run" / "last.pt")["model"]
    for key in a:
        torch.testing.assert_close(a[key], b[key], msg=key)


def test_minutes_schedule_spans_the_budget(two_rooms_data, tmp_path):
    """schedule=minutes: warmup counts steps, then the learning rate's cosine spans the time
    left and EMA momentum the whole budget, ending at their final values when it runs out."""
    cfg = _cfg(two_rooms_data, tmp_path / "unit", schedule="minutes", max_minutes=1.0,
               warmup=2, lr=1e-3, min_lr=0.0, ema=[0.99, 1.0])
    trainer = Pretrainer(cfg, Processes(0, 1, torch.device("cpu")))

    def at(step: int, seconds: float) -> tuple[float, float]:
        where_lr, where = trainer.clock.at(step, seconds)
        return trainer.lr(where_lr), trainer.momentum(where)

    assert at(1, 5.0)[0] == pytest.approx(0.5e-3)  # warmup: halfway by steps
    assert at(2, 10.0)[0] == pytest.approx(1e-3)  # warmup ends at 10 s: the peak
    lr, m = at(40, 35.0)  # half of the 50 s after warmup; 35 of 60 s in all
    assert lr == pytest.approx(0.5e-3) and m == pytest.approx(0.99 + 0.01 * 35 / 60)
    assert at(90, 60.0) == (pytest.approx(0.0), pytest.approx(1.0))

    run = tmp_path / "run"
    pretrain(_cfg(two_rooms_data, run, schedule="minutes", max_minutes=0.02))
    first = load(run / "last.pt")
    assert first["seconds"] >= 1.2 and first["step"] >= 1
    # 1.2 s more than the first run used (a loaded host may overshoot its 1.2 s a lot)
    more = (first["seconds"] + 1.2) / 60
    pretrain(_cfg(two_rooms_data, run, schedule="minutes", max_minutes=more, resume=True))
    second = load(run / "last.pt")  # the clock went on from where it stopped
    assert second["seconds"] >= 60 * more and second["step"] > first["step"]
    pretrain(_cfg(two_rooms_data, run, schedule="minutes", max_minutes=more, resume=True))
    assert load(run / "last.pt")["step"] == second["step"]  # budget spent: nothing to do
    with pytest.raises(ValueError, match="max_minutes=15"):
        pretrain(_cfg(two_rooms_data, tmp_path / "x", schedule="minutes"))
    with pytest.raises(ValueError, match="steps or minutes"):
        pretrain(_cfg(two_rooms_data, tmp_path / "y", schedule="hours"))


def test_mask_sets_default_to_the_papers_and_train(two_rooms_data, tmp_path):
    assert PretrainConfig(method="vjepa").mask_sets == 2  # a short- and a long-range set
    assert PretrainConfig(method="ijepa").mask_sets == PretrainConfig(method="mae").mask_sets == 1
    with pytest.raises(ValueError, match="mask_sets must be positive"):
        PretrainConfig(mask_sets=0)
    summary = pretrain(_cfg(two_rooms_data, tmp_path / "sets", mask_sets=3, steps=3))
    assert summary["steps"] == 3
    assert load(tmp_path / "sets" / "last.pt")["config"]["mask_sets"] == 3


def test_mask_settings_reach_the_collator(two_rooms_data, tmp_path):
    with pytest.raises(ValueError, match="target_scale is a \\[low, high\\] fraction"):
        PretrainConfig(target_scale=[0.3, 0.2])
    with pytest.raises(ValueError, match="context_scale"):
        PretrainConfig(context_scale=[0.5, 1.5])
    with pytest.raises(ValueError, match="mask_targets must be positive"):
        PretrainConfig(mask_targets=0)
    # clips draw tube masks: frame-mask settings there would be silently ignored
    with pytest.raises(ValueError, match="mask_targets shape I-JEPA's masks on frames"):
        PretrainConfig(method="vjepa", mask_targets=2)
    with pytest.raises(ValueError, match="frames=1 tubelet=1"):
        PretrainConfig(method="mae", target_scale=[0.3, 0.3])  # frames 4, tubelet 2
    assert PretrainConfig(method="mae", frames=1, tubelet=1, mask_targets=2).mask_targets == 2
    # and the tubes' time span on frames would be ignored as silently
    with pytest.raises(ValueError, match="context_time shapes V-JEPA's tube masks on clips"):
        PretrainConfig(method="ijepa", context_time=0.5)
    with pytest.raises(ValueError, match="context_time"):
        PretrainConfig(method="vjepa", context_time=1.5)
    with pytest.raises(ValueError, match="one time step"):
        PretrainConfig(method="vjepa", frames=2, tubelet=2, context_time=0.5)
    assert PretrainConfig(method="vjepa", context_time=0.5).context_time == 0.5
    with pytest.raises(ValueError, match="context_tubes shapes V-JEPA's tube masks"):
        PretrainConfig(method="ijepa", context_tubes=False)
    with pytest.raises(ValueError, match="context_time below 1"):
        PretrainConfig(method="vjepa", context_tubes=False)
    # one forecast a step: further sets would repeat it
    assert PretrainConfig(method="vjepa", context_time=0.5, context_tubes=False).mask_sets == 1
    with pytest.raises(ValueError, match="set mask_sets=1"):
        PretrainConfig(method="vjepa", context_time=0.5, context_tubes=False, mask_sets=2)
    cfg = _cfg(two_rooms_data, tmp_path / "masks", mask_targets=2, target_scale=[0.25, 0.25],
               context_scale=[1.0, 1.0])
    trainer = Pretrainer(cfg, Processes(0, 1, torch.device("cpu")))
    contexts, targets = mask_sets(next(iter(trainer.loader())))
    # a 4 x 4 grid: two 2 x 2 target blocks, the context is the rest of the grid
    assert targets[0].shape == (cfg.batch_size, 2, 4)
    for ctx, tgt in zip(contexts[0], targets[0], strict=True):
        assert not set(ctx.tolist()) & set(tgt.flatten().tolist())
    assert contexts[0].shape[1] >= 8  # two 4-token targets leave at least 8
    # clips: the context keeps to the first half of the time steps, and the run trains
    cfg = _cfg(two_rooms_data, tmp_path / "causal", method="vjepa", frames=4, tubelet=2,
               context_time=0.5, steps=2)
    trainer = Pretrainer(cfg, Processes(0, 1, torch.device("cpu")))
    n = trainer.model.cfg.encoder.num_tokens
    contexts, targets = mask_sets(next(iter(trainer.loader())))
    for ctx, tgt in zip(contexts, targets, strict=True):
        assert ctx.max() < n // 2
        assert all(set(range(n // 2, n)) <= set(t.tolist()) for t in tgt.flatten(1))
    assert pretrain(cfg)["steps"] == 2
    # and with no tubes the loader forecasts the second half from the whole first
    cfg = _cfg(two_rooms_data, tmp_path / "forecast", method="vjepa", frames=4, tubelet=2,
               context_time=0.5, context_tubes=False, steps=2)
    contexts, targets = mask_sets(next(iter(Pretrainer(cfg, Processes(
        0, 1, torch.device("cpu"))).loader())))
    assert len(contexts) == 1
    assert (contexts[0] == torch.arange(n // 2)).all()
    assert (targets[0][:, 0] == torch.arange(n // 2, n)).all()
    assert pretrain(cfg)["steps"] == 2


def test_adam_epsilon_reaches_the_optimiser(two_rooms_data, tmp_path):
    # encoder gradients late in a Two Rooms run are about 1e-11, below AdamW's default
    # epsilon, so the epsilon is a setting, not a constant
    with pytest.raises(ValueError, match="adam_eps must be positive"):
        PretrainConfig(adam_eps=0)
    pretrain(_cfg(two_rooms_data, tmp_path / "eps", adam_eps=1e-12, max_minutes=1e-9))
    first = load(tmp_path / "eps" / "last.pt")
    assert first["step"] < 6
    assert [g["eps"] for g in first["optimizer"]["param_groups"]] == [1e-12, 1e-12]
    # a resumed run takes the epsilon it asks for, not the one its optimiser state saved
    pretrain(_cfg(two_rooms_data, tmp_path / "eps", adam_eps=1e-10, resume=True))
    groups = load(tmp_path / "eps" / "last.pt")["optimizer"]["param_groups"]
    assert [g["eps"] for g in groups] == [1e-10, 1e-10]


def test_no_loader_worker_by_default_on_a_cpu_and_one_still_trains(two_rooms_data, tmp_path):
    # a CPU's cores are the step's: the loader runs in the loop; a GPU's host feeds it
    assert PretrainConfig(device="cpu").num_workers == 0
    assert PretrainConfig(device="cuda").num_workers == 1
    assert PretrainConfig(device="cpu", num_workers=2).num_workers == 2
    with pytest.raises(ValueError, match="num_workers must be zero or more"):
        PretrainConfig(num_workers=-1)
    summary = pretrain(_cfg(two_rooms_data, tmp_path / "worker", num_workers=1, steps=3))
    assert summary["steps"] == 3  # masks drawn in a worker process


def test_resume_refuses_a_different_run(two_rooms_data, tmp_path):
    pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=3))
    with pytest.raises(CheckpointError, match="resume=true"):
        pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=3))
    with pytest.raises(CheckpointError, match="model"):
        pretrain(_cfg(two_rooms_data, tmp_path / "run", model="tiny", resume=True))
    with pytest.raises(CheckpointError, match="no checkpoint"):
        pretrain(_cfg(two_rooms_data, tmp_path / "empty", resume=True))
    # made before predictor_pass was a setting: it ran the shared pass
    ckpt = load(tmp_path / "run" / "last.pt")
    del ckpt["config"]["predictor_pass"]
    torch.save(ckpt, tmp_path / "run" / "last.pt")
    pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=3, resume=True))
    with pytest.raises(CheckpointError, match="predictor_pass='shared'"):
        pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=3, resume=True,
                      predictor_pass="per_block"))


def test_nan_loss_stops_with_the_last_good_checkpoint_intact(two_rooms_data, tmp_path,
                                                            monkeypatch):
    pretrain(_cfg(two_rooms_data, tmp_path / "run", max_minutes=1e-9))  # stops after step 1
    good = load(tmp_path / "run" / "last.pt")

    def diverged(self, *args):
        return torch.tensor(float("nan"), requires_grad=True), {}

    monkeypatch.setattr(JEPA, "forward", diverged)
    with pytest.raises(TrainingError, match="intact"):
        pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=6, resume=True))
    after = load(tmp_path / "run" / "last.pt")
    assert after["step"] == good["step"] == 1
    for key, value in good["model"].items():
        torch.testing.assert_close(after["model"][key], value)


def test_collapse_warning(two_rooms_data, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=3, rankme_warn=1e9))
    assert "collapsing" in caplog.text


def test_a_regulariser_warns_when_its_embeddings_shrink_though_rankme_cannot(
        two_rooms_data, tmp_path, caplog):
    # Two steps in, Two Rooms frames still embed nearly alike (a spread of about 0.02), far
    # below the unit spread SIGReg asks for; RankMe, scale-free, is content with it.
    with caplog.at_level(logging.WARNING):
        pretrain(_cfg(two_rooms_data, tmp_path / "sigreg", steps=2, warmup=1,
                      objective="sigreg", rankme_warn=0))
    assert "spread" in caplog.text and "sigreg asks for 1" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # within the warmup it has not had its chance
        pretrain(_cfg(two_rooms_data, tmp_path / "warmup", steps=2, warmup=2,
                      objective="sigreg", rankme_warn=0))
    with caplog.at_level(logging.WARNING):  # the EMA objective asks for no spread
        pretrain(_cfg(two_rooms_data, tmp_path / "ema", steps=2, warmup=1, rankme_warn=0))
    assert "spread" not in caplog.text


@pytest.mark.parametrize("method", ["ijepa", "lejepa"])
def test_two_processes_match_one_on_the_same_global_batch(two_rooms_data, tmp_path, method):
    # LeJEPA's batch norm and SIGReg see the global batch, so its processes train as one too
    kw = dict(method=method, projector=[32, 8]) if method == "lejepa" else {}
    pretrain(_cfg(two_rooms_data, tmp_path / "one", steps=3, **kw))
    two = _cfg(two_rooms_data, tmp_path / "two", steps=3, **kw)
    args = [f"{k}={v}" if not isinstance(v, list) else f"{k}=[{','.join(map(str, v))}]"
            for k, v in vars(two).items() if v is not None]
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                    "--master_port=29533", "-m", "worldmodel.cli", "pretrain", *args],
                   check=True, capture_output=True, timeout=300)
    a = load(tmp_path / "one" / "last.pt")["model"]
    b = load(tmp_path / "two" / "last.pt")["model"]
    for key in a:
        if method == "lejepa" and key == "context_encoder.norm.bias":
            # a shift of every pooled feature alike, which the projector's batch norm takes
            # out again: its gradient is rounding noise, which Adam turns into full steps
            continue
        # LeJEPA's batch norm divides by the small spread of frames of one scene, which
        # magnifies rounding: 2e-5 here; with per-process statistics 3e-3 (measured)
        atol = 5e-5 if method == "lejepa" else 1e-5
        torch.testing.assert_close(a[key], b[key], atol=atol, rtol=1e-4, msg=key)


def _official(state: dict, prefix: str) -> dict:
    """Our state dict written in the official key format."""
    out = {}
    for k, v in state.items():
        k = (k.replace("mlp.0.", "mlp.fc1.").replace("mlp.2.", "mlp.fc2.")
             .replace("patch_embed.", "patch_embed.proj."))
        out[prefix + k] = v
    return out


def test_official_ijepa_checkpoint_imports_with_identical_outputs():
    torch.manual_seed(0)
    source = tiny_encoder()
    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    expected = source(x)
    enc_state = _official(source.state_dict(), "module.")
    enc_state["module.pos_embed"] = source.pos_embed[None].clone()
    pred = Predictor((4, 4), 32, dim=16, depth=1, heads=2)
    pred_state = {"module." + k.replace("embed.", "predictor_embed.", 1)
                  .replace("blocks.", "predictor_blocks.").replace("norm.", "predictor_norm.")
                  .replace("head.", "predictor_proj.").replace("mlp.0.", "mlp.fc1.")
                  .replace("mlp.2.", "mlp.fc2."): v for k, v in pred.state_dict().items()}
    ckpt = {"encoder": enc_state, "target_encoder": enc_state, "predictor": pred_state}
    fresh, fresh_pred = tiny_encoder(), Predictor((4, 4), 32, dim=16, depth=1, heads=2)
    reports = import_official(ckpt, fresh, fresh_pred)
    assert all(r.ok for r in reports.values())
    torch.testing.assert_close(fresh(x), expected)
    ctx, cidx, tidx = torch.randn(2, 3, 32), torch.randint(0, 16, (2, 3)), torch.randint(
        0, 16, (2, 1, 2))
    torch.testing.assert_close(fresh_pred(ctx, cidx, tidx), pred(ctx, cidx, tidx))


def test_official_vjepa_prefix_interpolation_and_report():
    torch.manual_seed(0)
    source = VisionTransformer(ViTConfig(image_size=32, frames=4, tubelet=2, **TINY))
    state = _official(source.state_dict(), "module.backbone.")
    # Trained at 16x16 (2x2 patches per frame); imported at 32x32 (4x4): interpolated.
    state["module.backbone.pos_embed"] = torch.randn(1, 2 * 2 * 2, 32)
    fresh = VisionTransformer(ViTConfig(image_size=32, frames=4, tubelet=2, **TINY))
    report = import_official({"target_encoder": state}, fresh)["target_encoder"]
    assert report.ok and report.interpolated
    torch.testing.assert_close(fresh.blocks[0].attn.qkv.weight, source.blocks[0].attn.qkv.weight)
    state["module.backbone.blocks.0.attn.qkv.weight"] = torch.zeros(5, 5)
    state["module.backbone.extra_head.weight"] = torch.zeros(1)
    del state["module.backbone.norm.bias"]
    with pytest.raises(CheckpointError) as err:
        import_official({"target_encoder": state}, fresh)
    text = str(err.value)
    assert "norm.bias" in text and "extra_head" in text and "attn.qkv.weight" in text


def test_nonlinear_probe_reads_what_the_linear_one_cannot():
    from worldmodel.probe import linear_probe, mlp_probe

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3000, 8, generator=gen)
    bent = torch.stack([torch.sin(2 * x[:, 0]), x[:, 1] ** 2], dim=1)  # not linear in x
    straight = x[:, :2] @ torch.tensor([[1.0, 0.5], [-0.3, 2.0]])
    train, test = slice(0, 2400), slice(2400, None)
    assert linear_probe(x[train], bent[train], x[test], bent[test]) < 0.5
    assert mlp_probe(x[train], bent[train], x[test], bent[test], steps=1500) > 0.9
    # On a linear target it starts from, and keeps, the linear fit.
    assert mlp_probe(x[train], straight[train], x[test], straight[test], steps=300) > 0.999


def test_probe_on_a_tiny_run(two_rooms_data, tmp_path):
    from worldmodel.probe import ProbeConfig, probe

    pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=3, patch_size=8))
    result = probe(ProbeConfig(checkpoint=str(tmp_path / "run" / "last.pt"),
                               data=str(two_rooms_data.path), max_frames=60, mlp_steps=20,
                               out=str(tmp_path / "probe"), held_out=0.34))
    assert set(result) >= {"linear_r2", "mlp_r2", "rankme", "pca_plot"}
    assert result["linear_r2"] <= 1.0
    with pytest.raises(CheckpointError, match="does not exist"):
        probe(ProbeConfig(checkpoint=str(tmp_path / "nope.pt"), data=str(two_rooms_data.path)))
    with pytest.raises(ValueError, match="have 2 dimensions; pick from 0..1"):
        probe(ProbeConfig(checkpoint="random", data=str(two_rooms_data.path), state_dims=[0, 9]))


def test_probe_reads_frames_from_a_lejepa_run(two_rooms_data, tmp_path):
    """LeJEPA trains on clips but its encoder reads single frames: perception's."""
    from worldmodel.probe import ProbeConfig, probe

    pretrain(_cfg(two_rooms_data, tmp_path / "run", steps=2, patch_size=8, method="lejepa",
                  projector=[32, 8]))
    model, _ = model_from_checkpoint(tmp_path / "run" / "last.pt")
    assert model.encoder.cfg.tubelet == 1 and model.projector is not None
    result = probe(ProbeConfig(checkpoint=str(tmp_path / "run" / "last.pt"),
                               data=str(two_rooms_data.path), max_frames=60, mlp_steps=5,
                               out=str(tmp_path / "probe"), held_out=0.34))
    assert result["linear_r2"] <= 1.0


def test_probe_leaves_out_state_dimensions_that_never_change():
    from worldmodel.probe import probed_dims

    states = torch.randn(5, 7, 4)
    states[..., 3] = 0.0  # e.g. Reacher's target velocity
    assert probed_dims(states, None, "these states") == [0, 1, 2]
    assert probed_dims(states, [1], "these states") == [1]
    with pytest.raises(ValueError, match=r"dimension\(s\) \[3\] of these states never change"):
        probed_dims(states, [0, 3], "these states")


def test_probe_reads_clips_for_a_video_encoder(two_rooms_data, tmp_path):
    from worldmodel.probe import ProbeConfig, probe

    result = probe(ProbeConfig(checkpoint="random", data=str(two_rooms_data.path), frames=4,
                               tubelet=2, max_frames=60, mlp_steps=20,
                               out=str(tmp_path / "probe"), held_out=0.34))
    assert result["linear_r2"] <= 1.0 and result["rankme"] > 1.0


def test_probe_of_every_block_ends_at_the_pooled_features(two_rooms_data, tmp_path):
    from worldmodel.jepa.vit import PRESETS, VisionTransformer, ViTConfig
    from worldmodel.probe import ProbeConfig, probe

    torch.manual_seed(0)
    vit = VisionTransformer(ViTConfig(image_size=32, patch_size=8, **PRESETS["micro"])).eval()
    x = torch.randint(0, 255, (3, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        per_block = vit.pooled_blocks(x)
        assert per_block.shape == (3, 4, 96)
        torch.testing.assert_close(per_block[:, -1], vit.pooled(x))
        assert not torch.allclose(per_block[:, 0], per_block[:, -1], atol=1e-3)
    result = probe(ProbeConfig(checkpoint="random", data=str(two_rooms_data.path), blocks=True,
                               max_frames=60, mlp_steps=20, out=str(tmp_path / "probe"),
                               held_out=0.34))
    assert len(result["linear_r2_per_block"]) == PRESETS["tiny"]["depth"]
    assert result["linear_r2_per_block"][-1] == pytest.approx(result["linear_r2"], abs=1e-6)


def test_probe_reads_the_last_blocks_side_by_side(two_rooms_data, tmp_path, monkeypatch):
    import worldmodel.probe as probe_module
    from worldmodel.probe import ProbeConfig, probe

    seen = []
    fit = probe_module.linear_probe
    monkeypatch.setattr(probe_module, "linear_probe",
                        lambda x_tr, *rest: seen.append(x_tr.shape) or fit(x_tr, *rest))
    common = dict(checkpoint="random", data=str(two_rooms_data.path), max_frames=60,
                  mlp_steps=20, held_out=0.34)
    one = probe(ProbeConfig(**common, out=str(tmp_path / "one")))
    four = probe(ProbeConfig(**common, last_blocks=4, out=str(tmp_path / "four")))
    assert [shape[1] for shape in seen] == [192, 4 * 192]  # tiny: 192 features a block
    assert four["last_blocks"] == 4 and four["linear_r2"] != pytest.approx(one["linear_r2"])
    with pytest.raises(ValueError, match="has 6 blocks"):
        probe(ProbeConfig(**common, last_blocks=7, out=str(tmp_path / "seven")))
    with pytest.raises(ValueError, match="last_blocks must be at least 1"):
        ProbeConfig(last_blocks=0)


def test_probe_shapes_the_random_encoder_and_refuses_that_for_a_checkpoint(two_rooms_data,
                                                                           tmp_path, monkeypatch):
    import worldmodel.probe as probe_module
    from worldmodel.probe import ProbeConfig, probe

    seen, read = [], probe_module.features

    def spy(encoder, *args, **kwargs):
        seen.append(encoder.cfg)
        return read(encoder, *args, **kwargs)

    monkeypatch.setattr(probe_module, "features", spy)
    common = dict(data=str(two_rooms_data.path), max_frames=60, mlp_steps=20, held_out=0.34)
    result = probe(ProbeConfig(checkpoint="random", model="micro", patch_size=4,
                               out=str(tmp_path / "p4"), **common))
    assert (seen[0].patch_size, seen[0].dim, seen[0].depth) == (4, 96, 4)
    assert result["linear_r2"] <= 1.0
    with pytest.raises(ValueError, match="not divisible by the patch size 5"):
        probe(ProbeConfig(checkpoint="random", patch_size=5, out=str(tmp_path / "p5"), **common))
    with pytest.raises(ValueError, match="model must be one of micro, tiny, small, base"):
        ProbeConfig(checkpoint="random", model="huge")
    with pytest.raises(ValueError, match="patch_size=4, frames=4 shape the random encoder"):
        ProbeConfig(checkpoint=str(tmp_path / "run" / "last.pt"), patch_size=4, frames=4)


def test_pooled_features_keep_fp32_under_autocast():
    # bf16 features drown a small object's share of the average (probe R^2 0.92 -> 0.48).
    from worldmodel.jepa.vit import PRESETS, VisionTransformer, ViTConfig

    torch.manual_seed(0)
    vit = VisionTransformer(ViTConfig(image_size=32, patch_size=8, **PRESETS["micro"])).eval()
    x = torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        exact = vit(x).mean(1)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            pooled = vit.pooled(x)
    assert pooled.dtype == torch.float32
    torch.testing.assert_close(pooled, exact)


def test_run_log_keeps_the_columns_it_began_with(tmp_path):
    """A CSV log resumed by a version that logs more columns stays aligned under its first
    header; a JSON-lines log takes whatever each row holds."""
    path = tmp_path / "log.csv"
    with RunLog(path, ["step", "loss"]) as first:
        first.write({"step": 1, "loss": 0.5, "lr": 1e-3})
    with RunLog(path, ["step", "lr", "loss"]) as resumed:
        resumed.write({"step": 2, "loss": 0.25, "lr": 2e-3})
    assert path.read_text().splitlines() == ["step,loss", "1,0.5", "2,0.25"]
    assert read_log(path) == [{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.25}]
    lines = tmp_path / "log.jsonl"
    with RunLog(lines) as jsonl:
        jsonl.write({"step": 1, "loss": 0.5})
        jsonl.write({"step": 2, "loss": 0.25, "rankme": 3.0})
    assert read_log(lines)[1] == {"step": 2, "loss": 0.25, "rankme": 3.0}
    with pytest.raises(ValueError, match="needs its columns"):
        RunLog(tmp_path / "other.csv")


@pytest.mark.skipif(not vit._onednn_fused_linear(),
                    reason="oneDNN's fused linear needs native bf16 and its operator")
def test_a_bf16_target_pass_with_its_layers_fused_matches_the_plain_layers(monkeypatch):
    torch.manual_seed(0)
    encoder = VisionTransformer(ViTConfig(image_size=32, patch_size=8, dim=48, depth=2,
                                          heads=3))
    first = encoder.blocks[0].mlp[0]
    x = torch.randn(2, 16, 48).bfloat16()
    with torch.inference_mode(), torch.profiler.profile() as ran:
        fused = vit.linear(first, x, gelu=True)
    assert "mkldnn::_linear_pointwise" in {event.key for event in ran.key_averages()}
    plain = F.gelu(F.linear(x, first.weight.bfloat16(), first.bias.bfloat16()))
    assert fused.dtype == torch.bfloat16
    assert torch.allclose(fused.float(), plain.float(), atol=0.02, rtol=0.02)
    second, residual = encoder.blocks[0].mlp[2], torch.randn(2, 16, 48).bfloat16()
    with torch.inference_mode():
        added = vit.linear(second, fused, residual=residual)
        plain = residual + F.linear(fused, second.weight.bfloat16(), second.bias.bfloat16())
    assert torch.allclose(added.float(), plain.float(), atol=0.03, rtol=0.02)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.autocast("cpu", dtype=torch.bfloat16), torch.inference_mode():
        tokens = encoder(images).float()
        monkeypatch.setattr(vit, "_onednn_fused_linear", lambda: False)
        unfused = encoder(images).float()
    assert torch.allclose(tokens, unfused, atol=0.05)
    monkeypatch.undo()
    # with autograd on, the layers stay as they are: the fused operator has no backward
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert vit.linear(first, x.requires_grad_(), gelu=True).grad_fn is not None
