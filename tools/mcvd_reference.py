"""Shared helpers for the tools that drive the reference MCVD implementation (voletiv/mcvd-pytorch).

Finds and imports the reference, turns its YAML configs into the "mcvd.config" metadata of our model
files and back, builds its U-Net, and reads/writes safetensors files in the layout of
docs/model-format.md. Needs torch, numpy and pyyaml; nothing here is used by CI.
"""

import argparse
import json
import os
import sys

import numpy as np
import yaml

FORMAT = "mcvd-1"

# Reference `model:` fields that decide the architecture or the sampling (kept under their names).
MODEL_FIELDS = [
    "arch", "version", "type", "spade", "spade_dim", "ngf", "ch_mult", "num_res_blocks", "attn_resolutions",
    "n_head_channels", "dropout", "time_conditional", "cond_emb", "nonlinearity", "conditional",
    "output_all_frames", "noise_in_cond", "gamma", "sigma_dist", "sigma_begin", "sigma_end", "num_classes",
    "ema", "ema_rate",
]
# Reference `data:` fields (frame counts, sizes and the masking probabilities of training).
DATA_FIELDS = [
    "dataset", "image_size", "channels", "num_frames", "num_frames_cond", "num_frames_future",
    "prob_mask_cond", "prob_mask_future", "prob_mask_sync", "rescaled", "logit_transform",
]
# Constants that ncsnpp_more.py hard-codes; recorded so a reader does not have to know them.
FIXED_MODEL = {"resblock_type": "biggan", "embedding_type": "positional", "skip_rescale": True,
               "fir": True, "fir_kernel": [1, 3, 3, 1], "init_scale": 0.0}

MODEL_DEFAULTS = {"version": "DDPM", "type": "v1", "spade": False, "spade_dim": 128, "dropout": 0.0,
                  "time_conditional": True, "cond_emb": False, "nonlinearity": "swish", "conditional": True,
                  "output_all_frames": False, "noise_in_cond": False, "gamma": False, "sigma_dist": "linear",
                  "sigma_begin": 0.02, "sigma_end": 0.0001, "num_classes": 1000, "n_head_channels": -1}
DATA_DEFAULTS = {"num_frames_future": 0, "prob_mask_cond": 0.0, "prob_mask_future": 0.0, "prob_mask_sync": False}


def add_reference_argument(parser):
    parser.add_argument("--reference", default=os.environ.get("MCVD_REFERENCE"),
                        help="path to a checkout of voletiv/mcvd-pytorch (default: $MCVD_REFERENCE)")


def import_reference(path):
    """Imports models.better.ncsnpp_more from the reference checkout at `path`. On CPU its custom
    CUDA ops are never compiled (upfirdn2d takes its native path for CPU tensors)."""
    if not path:
        sys.exit("error: give the reference checkout with --reference or MCVD_REFERENCE")
    path = os.path.abspath(path)
    if not os.path.isfile(os.path.join(path, "models", "better", "ncsnpp_more.py")):
        sys.exit(f"error: {path} does not look like mcvd-pytorch (no models/better/ncsnpp_more.py)")
    if path not in sys.path:
        sys.path.insert(0, path)
    from models.better import ncsnpp_more  # noqa: E402 (import from the reference on purpose)
    return ncsnpp_more


class _ConfigLoader(yaml.SafeLoader):
    """Safe YAML loader that also reads the configs the reference dumps (argparse.Namespace objects
    become dicts; other python/ tags such as torch.device become None)."""


def _python_object(loader, suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    return None


_ConfigLoader.add_multi_constructor("tag:yaml.org,2002:python/", _python_object)


def load_yaml(path):
    with open(path) as f:
        config = yaml.load(f, Loader=_ConfigLoader)
    if not isinstance(config, dict) or "model" not in config or "data" not in config:
        sys.exit(f"error: {path} is not a reference config (needs model: and data:)")
    return config


def mcvd_config(reference_config, parameterization="eps", residual=False):
    """Our metadata object {"model", "data", "diffusion"} from a reference config dict."""
    model_in, data_in = reference_config["model"], reference_config["data"]
    model = {k: model_in.get(k, MODEL_DEFAULTS.get(k)) for k in MODEL_FIELDS if k in model_in or k in MODEL_DEFAULTS}
    model.update(FIXED_MODEL)
    data = {k: data_in.get(k, DATA_DEFAULTS.get(k)) for k in DATA_FIELDS if k in data_in or k in DATA_DEFAULTS}
    for key in ("ngf", "ch_mult", "num_res_blocks", "attn_resolutions"):
        if key not in model:
            sys.exit(f"error: reference config lacks model.{key}")
    for key in ("image_size", "channels", "num_frames", "num_frames_cond"):
        if key not in data:
            sys.exit(f"error: reference config lacks data.{key}")
    # The reference's sigma_begin/sigma_end are the first/last beta of linspace(begin, end): its
    # betas run from the noisiest step (index 0) to the cleanest (index num_classes - 1).
    diffusion = {
        "schedule": model["sigma_dist"],
        "num_steps": int(model["num_classes"]),
        "beta_min": float(min(model["sigma_begin"], model["sigma_end"])),
        "beta_max": float(max(model["sigma_begin"], model["sigma_end"])),
        "parameterization": parameterization,
        "residual": residual,
    }
    if diffusion["schedule"] not in ("linear", "cosine"):
        sys.exit(f"error: schedule {diffusion['schedule']!r} is not supported (linear, cosine)")
    return {"model": model, "data": data, "diffusion": diffusion}


def namespace(value):
    if isinstance(value, dict):
        return argparse.Namespace(**{k: namespace(v) for k, v in value.items()})
    return value


def build_model(ref, config):
    """The reference UNetMore_DDPM (NCSNpp or SPADE_NCSNpp inside `.unet`) for our config object,
    in eval mode (dropout off), on the CPU."""
    import torch
    model_cfg = {k: v for k, v in config["model"].items() if k not in FIXED_MODEL}
    full = {"model": model_cfg, "data": dict(config["data"]), "device": torch.device("cpu")}
    if full["model"].get("arch") not in ("unetmore",):
        # Only the 2D U-Net of ncsnpp_more.py is supported (see docs/model-format.md).
        full["model"]["arch"] = "unetmore"
    net = ref.UNetMore_DDPM(namespace(full))
    net.eval()
    return net


def input_shapes(config, batch, size=None):
    """(x_t, cond) shapes of one forward: frames stacked on channels, cond = past then future."""
    data = config["data"]
    c, n = data["channels"], data["num_frames"]
    k, f = data["num_frames_cond"], data.get("num_frames_future", 0)
    s = size or data["image_size"]
    return (batch, c * n, s, s), (batch, c * (k + f), s, s)


def strip_module_prefix(state):
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def _to_numpy(tensor):
    """(dtype name, little-endian bytes) of a torch tensor or numpy array."""
    import torch
    if isinstance(tensor, torch.Tensor):
        tensor = tensor.detach().cpu().contiguous()
        if tensor.dtype == torch.bfloat16:
            return "BF16", tensor.view(torch.int16).numpy().astype("<i2").tobytes()
        if tensor.dtype == torch.float16:
            return "F16", tensor.numpy().astype("<f2").tobytes()
        return "F32", tensor.float().numpy().astype("<f4").tobytes()
    array = np.ascontiguousarray(tensor)
    if array.dtype == np.float16:
        return "F16", array.astype("<f2").tobytes()
    return "F32", array.astype("<f4").tobytes()


def save_safetensors(path, tensors, config, extra_metadata=None):
    """Writes tensors (torch or numpy; F32, F16 or BF16 as given) with our metadata. The output is
    byte-for-byte deterministic: names sorted, metadata keys sorted, header padded with spaces to a
    multiple of 8 bytes. Written to a temporary file and renamed into place."""
    metadata = {"format": FORMAT, "mcvd.config": json.dumps(config, sort_keys=True)}
    metadata.update(extra_metadata or {})
    header = {"__metadata__": dict(sorted(metadata.items()))}
    blobs = []
    offset = 0
    for name in sorted(tensors):
        dtype, blob = _to_numpy(tensors[name])
        shape = [int(d) for d in tensors[name].shape]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def read_safetensors(path):
    """(dict name -> torch tensor, metadata dict) of any safetensors file with F32/F16/BF16 data."""
    import torch
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = memoryview(raw)[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        chunk = data[begin:end]
        if info["dtype"] == "BF16":
            t = torch.frombuffer(bytearray(chunk), dtype=torch.int16).view(torch.bfloat16)
        elif info["dtype"] in ("F32", "F16"):
            t = torch.from_numpy(np.frombuffer(chunk, dtype="<f4" if info["dtype"] == "F32" else "<f2").copy())
        else:
            sys.exit(f"error: {path}: tensor {name!r} has unsupported dtype {info['dtype']}")
        tensors[name] = t.reshape(info["shape"])
    return tensors, metadata


def load_safetensors(path):
    """(tensors as torch tensors, config object) of one of our files."""
    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        sys.exit(f"error: {path}: metadata format is {metadata.get('format')!r}, expected {FORMAT!r}")
    return tensors, json.loads(metadata["mcvd.config"])


def stats(array):
    a = np.asarray(array, dtype=np.float64)
    return f"mean={a.mean():+.5f} std={a.std():.5f} min={a.min():+.4f} max={a.max():+.4f}"
