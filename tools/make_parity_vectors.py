#!/usr/bin/env python3
"""Builds the parity fixtures of Tests/UNetTests/Fixtures from the reference MCVD U-Net.

For each case: a seeded, randomly initialised reference model (its own init, then biases, norm
affine parameters and the zero-initialised output layers redrawn so every parameter matters), saved
as <case>/model.safetensors, and one forward of it on fixed inputs (batch 2, two timesteps) saved as
<case>/vectors.safetensors. Usage:

    tools/make_parity_vectors.py --reference /path/to/mcvd-pytorch --out Tests/UNetTests/Fixtures
"""

import argparse
import copy
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcvd_reference as mr  # noqa: E402

F16_THRESHOLD_BYTES = 8 * 1024 * 1024
BATCH = 2


def case_configs(reference_path):
    """Reference-style configs (model: and data: dicts) of the three fixture cases."""
    configs = os.path.join(reference_path, "configs")
    small5 = mr.load_yaml(os.path.join(configs, "smmnist_DDPM_small5.yml"))
    # small5 names arch "unet", which the reference's get_model no longer builds; its fields are
    # those of ncsnpp_more's NCSNpp, the network we build for it.
    small5["model"]["arch"] = "unetmore"

    tiny = copy.deepcopy(small5)
    tiny["data"].update(dataset="synthetic", image_size=64, channels=3, num_frames=1, num_frames_cond=2,
                        num_frames_future=2, prob_mask_cond=0.5, prob_mask_future=0.5, prob_mask_sync=False)
    tiny["model"].update(ngf=32, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[16],
                         n_head_channels=32, spade=False)

    spatin = mr.load_yaml(os.path.join(configs, "smmnist_DDPM_big5_spade.yml"))
    spatin["model"].update(ngf=32, ch_mult=[1, 2, 2], num_res_blocks=1, attn_resolutions=[16],
                           n_head_channels=32, spade=True, spade_dim=32)
    spatin["data"].update(num_frames=3, num_frames_cond=2, num_frames_future=1, prob_mask_cond=0.5,
                          prob_mask_future=0.5)
    return {"tiny-concat": (tiny, 1001), "smmnist-small5": (small5, 1002), "spatin": (spatin, 1003)}


def make_parameters_nontrivial(net, generator):
    """Redraws what the reference initialises to constants (zero biases, unit/zero GroupNorm affine,
    the ~1e-10-scaled last convolutions) so the fixtures exercise every parameter."""
    import torch
    norm_params = set()
    for module in net.modules():
        if isinstance(module, torch.nn.GroupNorm) and module.affine:
            norm_params.add(id(module.weight))
            norm_params.add(id(module.bias))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if id(p) in norm_params:
                if name.endswith("weight"):
                    p.copy_(1 + 0.25 * (torch.rand(p.shape, generator=generator) * 2 - 1))
                else:
                    p.copy_(0.1 * (torch.rand(p.shape, generator=generator) * 2 - 1))
            elif p.dim() == 1:  # biases (nn.Conv2d/nn.Linear .bias, NIN .b)
                p.copy_(0.1 * (torch.rand(p.shape, generator=generator) * 2 - 1))
            elif p.abs().max() < 1e-4:  # init_scale=0 layers: variance scaling, fan_avg, scale 1
                shape = p.shape
                if name.endswith(".W"):  # NIN stores (in, out)
                    fan_in, fan_out = shape[0], shape[1]
                else:
                    receptive = math.prod(shape[2:]) if len(shape) > 2 else 1
                    fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
                bound = math.sqrt(3.0 / ((fan_in + fan_out) / 2))
                p.copy_(bound * (torch.rand(shape, generator=generator) * 2 - 1))


def build_case(ref, name, reference_config, seed, out_dir):
    import torch
    config = mr.mcvd_config(reference_config)
    torch.manual_seed(seed)
    net = mr.build_model(ref, config)
    generator = torch.Generator().manual_seed(seed + 1)
    make_parameters_nontrivial(net, generator)

    params = dict(net.named_parameters())
    n_params = sum(p.numel() for p in params.values())
    use_f16 = 4 * n_params > F16_THRESHOLD_BYTES
    if use_f16:
        # Round to F16-representable values before the forward so F32 parity stays exact.
        with torch.no_grad():
            for p in params.values():
                p.copy_(p.half().float())

    state = mr.strip_module_prefix(net.state_dict())
    tensors = {k: (v.half() if use_f16 and k in params else v.float()) for k, v in state.items()}

    x_shape, cond_shape = mr.input_shapes(config, BATCH)
    data_gen = torch.Generator().manual_seed(seed + 2)
    x_t = torch.randn(x_shape, generator=data_gen)
    cond = torch.rand(cond_shape, generator=data_gen) * 2 - 1
    steps = config["diffusion"]["num_steps"]
    t = torch.tensor([37, steps - 188], dtype=torch.long)
    with torch.no_grad():
        out = net(x_t, t, cond=cond)
    assert out.shape == x_t.shape, (out.shape, x_t.shape)

    case_dir = os.path.join(out_dir, name)
    os.makedirs(case_dir, exist_ok=True)
    mr.save_safetensors(os.path.join(case_dir, "model.safetensors"), tensors, config)
    mr.save_safetensors(os.path.join(case_dir, "vectors.safetensors"),
                        {"x_t": x_t, "t": t.float(), "cond": cond, "out": out.float()}, config,
                        {"seed": str(seed)})
    model_bytes = os.path.getsize(os.path.join(case_dir, "model.safetensors"))
    vector_bytes = os.path.getsize(os.path.join(case_dir, "vectors.safetensors"))
    print(f"case={name} params={n_params} dtype={'F16' if use_f16 else 'F32'} "
          f"model_bytes={model_bytes} vectors_bytes={vector_bytes}")
    print(f"  x_t{tuple(x_t.shape)} cond{tuple(cond.shape)} t={t.tolist()} out: {mr.stats(out.numpy())}")
    for i in range(BATCH):
        print(f"  out[{i}]: {mr.stats(out[i].numpy())}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mr.add_reference_argument(parser)
    parser.add_argument("--out", required=True, help="fixture directory (one subdirectory per case)")
    parser.add_argument("--case", action="append", help="only this case (repeatable)")
    args = parser.parse_args()
    ref = mr.import_reference(args.reference)
    cases = case_configs(args.reference)
    for name in args.case or cases:
        if name not in cases:
            sys.exit(f"error: unknown case {name!r} (known: {', '.join(cases)})")
        config, seed = cases[name]
        build_case(ref, name, config, seed, args.out)


if __name__ == "__main__":
    main()
