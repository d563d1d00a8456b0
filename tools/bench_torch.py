#!/usr/bin/env python3
"""Times the reference U-Net forward in PyTorch on the CPU, for comparison with `mcvd bench`.

    tools/bench_torch.py --reference /path/to/mcvd-pytorch --case tiny-concat --size 64 --threads 2 --iters 20

Each case is a fixture model (Tests/UNetTests/Fixtures/<case>/model.safetensors: its config and
weights). At a size other than the config's image_size the same network runs with attention at the
same levels (attn_resolutions scaled by size / image_size). Prints one line per case, size and
thread count:

    impl=torch case=tiny-concat size=64 threads=2 batch=1 ms=38.1 ms_min=36.9 gflop=2.550

ms is the median of --iters timed forwards after --warmup untimed ones (ms_min their minimum, a
steadier figure on a busy machine).

With --serve it stays alive for `mcvd bench`'s alternating rounds, reading one command per line on
stdin and answering one line on stdout:

    setup <case> <size> <threads> <batch>   -> ready gflop=<g>   (builds the net, 2 warm-up forwards)
    run <k>                                 -> times_ms=<t1>,<t2>,...   (k timed forwards)
    quit
 gflop counts 2 x the
multiply-adds of convolutions, linear layers (incl. NIN) and the two attention matmuls per forward,
counted with forward hooks; norms, activations, FIR resampling and softmax are not counted.
"""

import argparse
import os
import statistics
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import mcvd_reference as mr  # noqa: E402

DEFAULT_FIXTURES = os.path.join(os.path.dirname(TOOLS), "Tests", "UNetTests", "Fixtures")


def list_arg(values, cast):
    """Accepts repeated options and comma-separated lists: --size 64 --size 128,256."""
    out = []
    for value in values:
        out.extend(cast(v) for v in str(value).split(",") if v)
    return out


def resized_config(config, size):
    import copy
    config = copy.deepcopy(config)
    base = config["data"]["image_size"]
    if size != base:
        if size % base and base % size:
            sys.exit(f"error: size {size} must be a multiple or divisor of the model's image_size {base}")
        config["data"]["image_size"] = size
        config["model"]["attn_resolutions"] = [r * size // base for r in config["model"]["attn_resolutions"]]
    return config


class FlopCounter:
    """Forward hooks that add up 2 x multiply-adds of the dense parts of one forward."""

    def __init__(self, net):
        import torch
        self.flops = 0
        self.handles = []
        for module in net.modules():
            kind = type(module).__name__
            if isinstance(module, torch.nn.Conv2d):
                self.handles.append(module.register_forward_hook(self.conv))
            elif isinstance(module, torch.nn.Linear):
                self.handles.append(module.register_forward_hook(self.linear))
            elif kind == "NIN":
                self.handles.append(module.register_forward_hook(self.nin))
            elif kind == "AttnBlockpp":
                self.handles.append(module.register_forward_hook(self.attention))
            elif kind in ("Conv2d",):  # up_or_down_sampling.Conv2d (not used by the biggan blocks)
                self.handles.append(module.register_forward_hook(self.custom_conv))

    def conv(self, module, inputs, output):
        kh, kw = module.kernel_size
        self.flops += 2 * output.numel() * (module.in_channels // module.groups) * kh * kw

    def custom_conv(self, module, inputs, output):
        o, i, kh, kw = module.weight.shape
        self.flops += 2 * output.numel() * i * kh * kw

    def linear(self, module, inputs, output):
        self.flops += 2 * output.numel() * module.in_features

    def nin(self, module, inputs, output):
        self.flops += 2 * output.numel() * module.W.shape[0]

    def attention(self, module, inputs, output):
        # Per head: (HW x c) @ (c x HW) scores, then (HW x HW) @ (HW x c); c x heads = C.
        b, c, h, w = inputs[0].shape
        self.flops += 2 * 2 * b * c * (h * w) ** 2

    def remove(self):
        for handle in self.handles:
            handle.remove()


def prepare(ref, config, weights, size, threads, batch):
    """The network at `size` with the fixture's weights, its inputs, and a forward closure."""
    import torch
    torch.set_num_threads(threads)
    config = resized_config(config, size)
    net = mr.build_model(ref, config)
    net.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    x_shape, cond_shape = mr.input_shapes(config, batch)
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(x_shape, generator=g), torch.rand(cond_shape, generator=g) * 2 - 1
    t = torch.full((batch,), 500, dtype=torch.long)
    with torch.inference_mode():
        counter = FlopCounter(net)
        net(x, t, cond=cond)
        counter.remove()

    def forward():
        with torch.inference_mode():
            net(x, t, cond=cond)
    return forward, counter.flops


def serve(ref, fixtures):
    """The --serve loop (see the module docstring)."""
    forward = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] == "setup":
                case, size, threads, batch = words[1], int(words[2]), int(words[3]), int(words[4])
                weights, config = mr.load_safetensors(os.path.join(fixtures, case, "model.safetensors"))
                forward, flops = prepare(ref, config, weights, size, threads, batch)
                forward()
                forward()
                print(f"ready gflop={flops / 1e9:.3f}", flush=True)
            elif words[0] == "run" and forward is not None:
                times = []
                for _ in range(int(words[1])):
                    start = time.perf_counter()
                    forward()
                    times.append(1000 * (time.perf_counter() - start))
                print("times_ms=" + ",".join(f"{v:.3f}" for v in times), flush=True)
            else:
                print(f"error: unknown or premature command {line.strip()!r}", flush=True)
        except Exception as e:  # one bad command must not end the session silently
            print(f"error: {e}", flush=True)


def bench(ref, case, config, weights, size, threads, batch, iters, warmup):
    import torch
    torch.set_num_threads(threads)
    config = resized_config(config, size)
    net = mr.build_model(ref, config)
    net.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
    x_shape, cond_shape = mr.input_shapes(config, batch)
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(x_shape, generator=g), torch.rand(cond_shape, generator=g) * 2 - 1
    t = torch.full((batch,), 500, dtype=torch.long)
    with torch.inference_mode():
        counter = FlopCounter(net)
        net(x, t, cond=cond)
        counter.remove()
        for _ in range(warmup):
            net(x, t, cond=cond)
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            net(x, t, cond=cond)
            times.append(time.perf_counter() - start)
    ms = 1000 * statistics.median(times)
    print(f"impl=torch case={case} size={size} threads={threads} batch={batch} ms={ms:.1f} "
          f"ms_min={1000 * min(times):.1f} gflop={counter.flops / 1e9:.3f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mr.add_reference_argument(parser)
    parser.add_argument("--case", action="append", default=[], help="fixture case(s), repeatable or comma-separated")
    parser.add_argument("--size", action="append", default=[], help="frame size(s) (default: the model's)")
    parser.add_argument("--threads", action="append", default=[], help="torch thread count(s) (default 1)")
    parser.add_argument("--iters", type=int, default=10, help="timed forwards per line (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed forwards first")
    parser.add_argument("--batch", type=int, default=1, help="batch size of a forward")
    parser.add_argument("--fixtures", default=DEFAULT_FIXTURES, help="directory with <case>/model.safetensors")
    parser.add_argument("--serve", action="store_true", help="answer setup/run commands on stdin (mcvd bench rounds)")
    args = parser.parse_args()
    if args.iters < 1 or args.warmup < 0 or args.batch < 1:
        sys.exit("error: --iters and --batch must be >= 1, --warmup >= 0")
    ref = mr.import_reference(args.reference)
    if args.serve:
        serve(ref, args.fixtures)
        return
    cases = list_arg(args.case, str) or ["tiny-concat"]
    threads = list_arg(args.threads, int) or [1]
    for case in cases:
        path = os.path.join(args.fixtures, case, "model.safetensors")
        if not os.path.isfile(path):
            sys.exit(f"error: no model for case {case!r} at {path}")
        weights, config = mr.load_safetensors(path)
        for size in list_arg(args.size, int) or [config["data"]["image_size"]]:
            for n in threads:
                bench(ref, case, config, weights, size, n, args.batch, args.iters, args.warmup)


if __name__ == "__main__":
    main()
