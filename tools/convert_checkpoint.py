#!/usr/bin/env python3
"""Converts a reference MCVD checkpoint (voletiv/mcvd-pytorch) to a model file of this project.

    tools/convert_checkpoint.py IN.pt OUT.safetensors [--config config.yml] [--no-ema] [--dtype F16]

The reference saves checkpoint.pt / checkpoint_<step>.pt as a list
[model state_dict, optimizer state_dict, epoch, step(, EMA shadow dict when model.ema)]. The EMA
weights are used when present (as the reference's own sampling does), the DataParallel "module."
prefix is stripped, and the architecture config comes from --config or from the config.yml the
reference writes next to its checkpoints. With --reference (or MCVD_REFERENCE) the result is loaded
back into the reference model (strict) as a check.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mcvd_reference as mr  # noqa: E402


def load_checkpoint(path, trust_pickle):
    import torch
    try:
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as error:  # torch raises several types for a refused or broken pickle
        hint = "" if trust_pickle else " (if you trust this file, retry with --trust-pickle)"
        sys.exit(f"error: cannot load {path}: {error}{hint}")


def split_checkpoint(states):
    """(state_dict, EMA shadow or None, step or None) of a reference checkpoint or a bare state_dict."""
    import torch
    if isinstance(states, dict) and all(isinstance(v, torch.Tensor) for v in states.values()):
        return states, None, None
    if isinstance(states, (list, tuple)) and states and isinstance(states[0], dict):
        ema = states[4] if len(states) >= 5 and isinstance(states[4], dict) else None
        step = states[3] if len(states) >= 4 and isinstance(states[3], int) else None
        return states[0], ema, step
    sys.exit("error: not a reference checkpoint (expected [state_dict, optimizer, epoch, step(, ema)])")


def find_config(checkpoint_path, config_path):
    if config_path:
        return mr.load_yaml(config_path)
    beside = os.path.join(os.path.dirname(os.path.abspath(checkpoint_path)), "config.yml")
    if os.path.isfile(beside):
        return mr.load_yaml(beside)
    sys.exit(f"error: no --config given and no config.yml beside {checkpoint_path}")


def convert(args):
    import torch
    states = load_checkpoint(args.input, args.trust_pickle)
    state, ema, step = split_checkpoint(states)
    state = mr.strip_module_prefix(state)
    used_ema = False
    if ema is not None and not args.no_ema:
        ema = mr.strip_module_prefix(ema)
        unknown = sorted(set(ema) - set(state))
        if unknown:
            sys.exit(f"error: EMA entries not in the state_dict: {', '.join(unknown[:5])}")
        for name, value in ema.items():
            if tuple(value.shape) != tuple(state[name].shape):
                sys.exit(f"error: EMA {name} has shape {tuple(value.shape)}, state_dict {tuple(state[name].shape)}")
            state[name] = value
        used_ema = True

    reference_config = find_config(args.input, args.config)
    config = mr.mcvd_config(reference_config, parameterization=args.parameterization)
    if reference_config["model"].get("arch", "unetmore") != "unetmore":
        sys.exit(f"error: arch {reference_config['model'].get('arch')!r}: only 'unetmore' (the 2D U-Net) is supported")

    dtype = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[args.dtype]
    buffers = {"betas", "alphas", "alphas_prev", "unet.sigmas", "k", "k_cum", "theta_t"}
    tensors = {k: (v.float() if k in buffers else v.to(dtype)) for k, v in state.items() if v.is_floating_point()}
    skipped = sorted(set(state) - set(tensors))
    if skipped:
        sys.exit(f"error: non-float tensors in the checkpoint: {', '.join(skipped[:5])}")

    if args.reference:
        ref = mr.import_reference(args.reference)
        net = mr.build_model(ref, config)
        net.load_state_dict({k: v.float() for k, v in tensors.items()}, strict=True)
        print("checked: loads into the reference model (strict)")

    extra = {"source": os.path.basename(args.input), "weights": "ema" if used_ema else "raw"}
    if step is not None:
        extra["step"] = str(step)
    mr.save_safetensors(args.output, tensors, config, extra)
    n_params = sum(v.numel() for k, v in tensors.items() if k not in buffers)
    print(f"wrote {args.output}: {len(tensors)} tensors, {n_params} parameters, "
          f"weights={'ema' if used_ema else 'raw'}, dtype={args.dtype}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="reference checkpoint (.pt)")
    parser.add_argument("output", help="output model file (.safetensors)")
    parser.add_argument("--config", help="reference config .yml (default: config.yml beside the checkpoint)")
    parser.add_argument("--no-ema", action="store_true", help="use the raw weights even if EMA weights exist")
    parser.add_argument("--dtype", choices=["F32", "F16", "BF16"], default="F32", help="weight dtype (default F32)")
    parser.add_argument("--parameterization", choices=["eps", "v"], default="eps",
                        help="what the network predicts (reference checkpoints: eps)")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="allow arbitrary pickled objects (only for checkpoints you trust)")
    mr.add_reference_argument(parser)
    convert(parser.parse_args())


if __name__ == "__main__":
    main()
