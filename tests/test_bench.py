"""The benches' own arithmetic: what they report must be right before their figures are."""

import importlib.util
from pathlib import Path

import pytest
import torch

from worldmodel.jepa.masks import MultiBlockMasks
from worldmodel.jepa.model import JEPA, JEPAConfig
from worldmodel.jepa.vit import VisionTransformer, ViTConfig


def _bench(name: str):
    path = Path(__file__).parents[1] / "bench" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_lead_calls_a_lead_only_when_its_interval_excludes_zero():
    lead = _bench("probe_per_minute").paired_lead
    steady = lead([0.990, 0.991, 0.989], [0.988, 0.9895, 0.987])  # leads 0.002, 0.0015, 0.002
    assert steady["wins"] == "3 of 3"
    assert steady["mean"] == pytest.approx(0.00183, abs=1e-5)
    # sd of the leads 0.000289, se 0.000167, t(2) 4.303: half-width 0.00072
    assert steady["ci95"] == pytest.approx([0.00112, 0.00255], abs=2e-5)
    mixed = lead([0.987, 0.983, 0.986], [0.988, 0.986, 0.985])  # -0.001, -0.003, +0.001
    assert mixed["wins"] == "1 of 3"
    assert mixed["ci95"][0] < 0 < mixed["ci95"][1]
    assert "ci95" not in lead([0.99], [0.98])  # one seed: no spread to judge by
    with pytest.raises(ValueError, match="paired seeds"):
        lead([0.99, 0.98], [0.98])


def test_seed_spread_leads_each_jepa_against_mae_seed_by_seed():
    rows = [{"encoder": "random ViT-tiny", "linear_r2": 0.7}]
    for seed, (ijepa, mae, lejepa) in enumerate([(0.988, 0.987, 0.999), (0.989, 0.986, 0.998)]):
        rows += [{"encoder": f"{m} ViT-tiny", "seed": seed, "steps": 100, "mlp_r2": r,
                  "linear_r2": r} for m, r in (("ijepa", ijepa), ("mae", mae), ("lejepa", lejepa))]
    out = _bench("probe_per_minute").seed_spread(rows)
    leads = {(o["lead"], o["probe"]): o for o in out if "lead" in o}
    assert set(leads) == {(f"{m} ViT-tiny - mae ViT-tiny", k) for m in ("ijepa", "lejepa")
                          for k in ("linear_r2", "mlp_r2")}
    assert leads["lejepa ViT-tiny - mae ViT-tiny", "linear_r2"]["per_seed"] == [0.012, 0.012]
    assert leads["ijepa ViT-tiny - mae ViT-tiny", "linear_r2"]["per_seed"] == [0.001, 0.003]
    means = {o["encoder"]: o["linear_r2_mean"] for o in out if "encoder" in o}
    assert means == {"ijepa ViT-tiny": 0.9885, "mae ViT-tiny": 0.9865, "lejepa ViT-tiny": 0.9985}


def test_the_reference_port_computes_this_projects_loss_and_gradients_from_its_weights():
    # The step bench's peer must be the same computation laid out the reference's way, or
    # its speed ratio compares different work. Weights far from the initialisation's small
    # ones, so the context's attention to the mask tokens (the papers' predictor, which the
    # shared pass leaves out) weighs in.
    port = _bench("reference_ijepa")
    cfg = ViTConfig(image_size=32, patch_size=4, dim=48, depth=2, heads=3)
    torch.manual_seed(0)
    reference = port.ReferenceIJEPA(cfg, predictor_dim=24, predictor_depth=2)
    port.init_as_reference(reference)
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    x = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    context, targets = MultiBlockMasks(grid=cfg.grid).sample(4, 0)
    theirs = reference.loss(VisionTransformer.normalise(x), context, targets)
    losses = {}
    for predictor_pass in ("per_block", "shared"):
        jepa = JEPA(JEPAConfig(encoder=cfg, predictor_dim=24, predictor_depth=2,
                               predictor_pass=predictor_pass))
        reference.load_into(jepa)
        losses[predictor_pass], _ = jepa(x, context, targets)
    assert theirs.item() == pytest.approx(losses["per_block"].item(), rel=1e-5)
    assert losses["shared"].item() != pytest.approx(theirs.item(), rel=1e-4)
    jepa = JEPA(JEPAConfig(encoder=cfg, predictor_dim=24, predictor_depth=2,
                           predictor_pass="per_block"))
    reference.load_into(jepa)
    ours, _ = jepa(x, context, targets)
    (ours + theirs).backward()
    pairs = [(jepa.context_encoder.blocks[0].attn.qkv, reference.encoder.blocks[0].attn.qkv),
             (jepa.predictor.head, reference.predictor.predictor_proj)]
    for mine, port_layer in pairs:
        torch.testing.assert_close(mine.weight.grad, port_layer.weight.grad, rtol=1e-4,
                                   atol=1e-6)
    with torch.no_grad():
        reference.encoder.norm.weight.fill_(2.0)
        reference.target_encoder.norm.weight.fill_(1.0)
    reference.update_target(0.75)
    assert torch.allclose(reference.target_encoder.norm.weight, torch.tensor(1.25))


def test_the_flop_counter_counts_a_fused_target_pass_as_the_plain_one():
    flops = _bench("flops")
    encoder = VisionTransformer(ViTConfig(image_size=32, patch_size=8, dim=48, depth=2,
                                          heads=3))
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    counts = []
    for inference in (False, True):  # the fused layers run only outside autograd
        with flops.flop_counter() as counter, torch.inference_mode(inference), \
                torch.autocast("cpu", dtype=torch.bfloat16):
            encoder(images)
        counts.append(counter.get_total_flops())
    assert counts[1] == pytest.approx(counts[0], rel=1e-3) and counts[0] > 1e6


def test_the_clip_bench_reads_each_time_steps_tokens_against_that_steps_last_frame():
    # Time step 0's tokens carry frame 2's state and step 1's carry frame 4's, in separate
    # channels, the frames drawn independently: only the matching pairs (and the mean of
    # all tokens, which keeps both) may read as a perfect probe.
    by_time_step = _bench("clip_time_steps").by_time_step
    gen = torch.Generator().manual_seed(0)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        states = torch.rand(n, 4, 2, generator=gen)  # [N, frames, S]
        tokens = torch.zeros(n, 2 * 16, 4)  # two time steps of 16 tokens, 4 channels
        tokens[:, :16, :2] = states[:, None, 1]
        tokens[:, 16:, 2:] = states[:, None, 3]
        return tokens, states

    r = by_time_step(*draw(400), *draw(100), tubelet=2)
    assert set(r) == {f"{g}->frame{f}" for g in ("all", "t0", "t1") for f in (2, 4)}
    for key in ("t0->frame2", "t1->frame4", "all->frame2", "all->frame4"):
        assert r[key] > 0.999, key
    for key in ("t0->frame4", "t1->frame2"):
        assert r[key] < 0.1, key
