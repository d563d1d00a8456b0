#!/usr/bin/env python3
"""Times the reference MCVD training step in PyTorch on the CPU, for comparison with the Swift trainer.

    tools/bench_torch_train.py --reference /path/to/mcvd-pytorch --case tiny-concat,smmnist-small5,spatin \
        --size 64 --batch 8 --threads 1,2 --iters 5 --warmup 2
    tools/bench_torch_train.py --reference /path/to/mcvd-pytorch --case tiny-concat --check

Each case is a fixture model (Tests/UNetTests/Fixtures/<case>/model.safetensors: config and starting
weights), built as in bench_torch.py. One timed step is everything the reference's runner
(runners/ncsn_runner.py, NCSNRunner.train) does per batch once the batch is in memory:

  1. optimizer.zero_grad(); linear lr warmup (reference losses.warmup_lr); model in train mode
     (dropout as configured);
  2. conditioning: split the clip (B, k + n + f, C, H, W) into past, current and future frames
     stacked on channels; zero all past frames of a sample with probability p_mask and, independently,
     all its future frames with p_mask (our code, written after the runner's conditioning_fn, which
     cannot be imported without the runner's dataset dependencies);
  3. the reference's own losses.dsm.anneal_dsm_score_estimation: t uniform in [0, 1000), eps ~ N(0, I),
     x_t = sqrt(alphas[t]) x_0 + sqrt(1 - alphas[t]) eps, forward with cond, per-sample
     sum of 1/2 (eps - eps_theta)^2, mean over the batch;
  4. loss.backward(); clip_grad_norm_(grad_clip); the reference's Adam (losses.get_optimizer) step;
     loss.item() (the runner logs it);
  5. the reference's EMAHelper.update when the config enables EMA (ema_rate).

Not timed: making the random clip (uniform in [-1, 1], i.e. data already rescaled). The runner's
DataParallel wrapper is left out (on a CPU it only forwards the call). Optimiser settings (Adam, lr,
beta1, eps, weight_decay, grad_clip, warmup) come from a reference config (--optim-config, by default
the reference's configs/smmnist_DDPM_small5.yml; every reference config uses Adam, beta1 0.9,
eps 1e-8 (one: 1e-3), weight_decay 0, grad_clip 1.0). Prints one line per case, batch and thread count:

    impl=torch-train case=tiny-concat size=64 batch=8 threads=2 step_ms=412.3 step_ms_min=398.0 \
        samples_per_s=19.4 gflop_per_step=61.2

step_ms is the median of --iters timed steps after --warmup untimed ones, step_ms_min the fastest,
samples_per_s = batch / median. gflop_per_step = 3 x the forward GFLOP at that batch, counted with
bench_torch.py's forward hooks (2 x multiply-adds of convolutions, linear layers, NINs and the two
attention matmuls; norms, activations, FIR resampling, softmax and the optimiser not counted); the
factor 3 is the usual estimate forward + backward (input and weight gradients each ~ one forward).

--serve stays alive for `mcvd train-bench`'s alternating rounds, one command per line on stdin, one
answer line on stdout (the protocol of bench_torch.py --serve):

    setup <case> <size> <threads> <batch>   -> ready gflop=<g>   (the trainer, --warmup untimed steps)
    run <k>                                 -> times_ms=<t1>,...  (k timed steps, a new random clip each)
    quit

--check runs 20 steps from a fixed seed on one fixed clip (t, eps, masks and dropout still drawn per
step, from the seed), with constant lr (the warmup would keep lr below 4e-6 for 20 steps), prints the
loss of every step and checks that the weights and the EMA moved and that a probe loss (eval mode,
fixed t and eps) fell. --dump PATH also writes that run's inputs and losses as safetensors.
"""

import argparse
import os
import statistics
import sys
import time

TOOLS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, TOOLS)
import mcvd_reference as mr  # noqa: E402
from bench_torch import DEFAULT_FIXTURES, FlopCounter, list_arg, resized_config  # noqa: E402

DEFAULT_OPTIM_CONFIG = os.path.join("configs", "smmnist_DDPM_small5.yml")
CHECK_STEPS = 20


def import_training(reference):
    """The reference's loss, optimiser factory, lr warmup and EMA (all importable without its
    dataset code: losses/ needs torch only, models/ema.py torch.nn)."""
    mr.import_reference(reference)
    from losses import get_optimizer, warmup_lr
    from losses.dsm import anneal_dsm_score_estimation
    from models.ema import EMAHelper
    return anneal_dsm_score_estimation, get_optimizer, warmup_lr, EMAHelper


def optim_settings(reference, path):
    path = path if os.path.isabs(path) or os.path.isfile(path) else os.path.join(reference, path)
    if not os.path.isfile(path):
        sys.exit(f"error: no optimiser config at {path}")
    optim = mr.load_yaml(path).get("optim")
    if not isinstance(optim, dict):
        sys.exit(f"error: {path} has no optim: section")
    return optim


def split_clip(clip, config, p_mask, generator):
    """clip: (B, k + n + f, C, H, W) -> x0 (B, C n, H, W), cond (B, C (k + f), H, W) or None, and
    the past mask (int32 0/1) or None. Past and future blocks are zeroed per sample, independently,
    each with probability p_mask (future copies the past mask when prob_mask_sync)."""
    import torch
    data = config["data"]
    k, n, f = data["num_frames_cond"], data["num_frames"], data.get("num_frames_future", 0)
    b, _, _, h, w = clip.shape
    x0 = clip[:, k:k + n].reshape(b, -1, h, w)
    if k == 0:
        return x0, None, None
    past = clip[:, :k].reshape(b, -1, h, w)
    past_mask = None
    if p_mask > 0:
        keep = torch.rand(b, generator=generator) > p_mask
        past = keep.reshape(-1, 1, 1, 1) * past
        past_mask = keep.to(torch.int32)
    if f == 0:
        return x0, past, past_mask
    future = clip[:, k + n:k + n + f].reshape(b, -1, h, w)
    if p_mask > 0:
        if data.get("prob_mask_sync", False):
            keep_future = past_mask.bool()
        else:
            keep_future = torch.rand(b, generator=generator) > p_mask
        future = keep_future.reshape(-1, 1, 1, 1) * future
    return x0, torch.cat([past, future], dim=1), past_mask


def random_clip(config, batch, size, generator):
    import torch
    data = config["data"]
    frames = data["num_frames_cond"] + data["num_frames"] + data.get("num_frames_future", 0)
    return torch.rand((batch, frames, data["channels"], size, size), generator=generator) * 2 - 1


class Trainer:
    """The reference model, optimiser and EMA for one case, and one training step."""

    def __init__(self, ref, training, config, weights, optim, p_mask, dropout):
        import torch
        self.dsm, get_optimizer, self.warmup_lr, EMAHelper = training
        if dropout is not None:
            config["model"]["dropout"] = dropout
        self.config = config
        self.net = mr.build_model(ref, config)
        self.net.load_state_dict({k: v.float() for k, v in weights.items()}, strict=True)
        self.net.train()
        self.optim = optim
        self.optimizer = get_optimizer(mr.namespace({"optim": optim}), self.net.parameters())
        self.grad_clip = float(optim.get("grad_clip", float("inf")))
        self.ema = None
        if config["model"].get("ema", False):
            self.ema = EMAHelper(mu=config["model"]["ema_rate"])
            self.ema.register(self.net)
        self.p_mask = p_mask
        self.step_count = 0
        self.mask_generator = torch.Generator().manual_seed(1)

    def step(self, clip, warmup=True, labels=None):
        """One training step on clip; returns the loss. labels=None: t drawn by the reference's loss."""
        import torch
        self.optimizer.zero_grad()
        self.step_count += 1
        if warmup:
            self.warmup_lr(self.optimizer, self.step_count, self.optim.get("warmup", 0), self.optim["lr"])
        self.net.train()
        x0, cond, cond_mask = split_clip(clip, self.config, self.p_mask, self.mask_generator)
        loss = self.dsm(self.net, x0, labels=labels, cond=cond, cond_mask=cond_mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.grad_clip)
        self.optimizer.step()
        value = loss.item()
        if self.ema is not None:
            self.ema.update(self.net)
        return value

    def forward_gflop(self, clip):
        import torch
        x0, cond, _ = split_clip(clip, self.config, 0.0, None)
        t = torch.full((x0.shape[0],), 500, dtype=torch.long)
        with torch.no_grad():
            counter = FlopCounter(self.net)
            self.net(x0, t, cond=cond)
            counter.remove()
        return counter.flops / 1e9


def bench(ref, training, case, config, weights, optim, args, size, batch, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    trainer = Trainer(ref, training, resized_config(config, size), weights, optim, args.p_mask, args.dropout)
    data = torch.Generator().manual_seed(0)
    gflop = 3 * trainer.forward_gflop(random_clip(trainer.config, batch, size, data))
    times = []
    for i in range(args.warmup + args.iters):
        clip = random_clip(trainer.config, batch, size, data)
        start = time.perf_counter()
        trainer.step(clip)
        elapsed = time.perf_counter() - start
        if i >= args.warmup:
            times.append(elapsed)
    median = statistics.median(times)
    print(f"impl=torch-train case={case} size={size} batch={batch} threads={threads} "
          f"step_ms={1000 * median:.1f} step_ms_min={1000 * min(times):.1f} "
          f"samples_per_s={batch / median:.2f} gflop_per_step={gflop:.2f}", flush=True)


def serve(ref, training, optim, args):
    """The --serve loop (see the module docstring)."""
    import torch
    step = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] == "setup":
                case, size, threads, batch = words[1], int(words[2]), int(words[3]), int(words[4])
                weights, config = mr.load_safetensors(os.path.join(args.fixtures, case, "model.safetensors"))
                torch.set_num_threads(threads)
                torch.manual_seed(0)
                trainer = Trainer(ref, training, resized_config(config, size), weights, optim, args.p_mask, args.dropout)
                data = torch.Generator().manual_seed(0)
                gflop = 3 * trainer.forward_gflop(random_clip(trainer.config, batch, size, data))

                def step(trainer=trainer, data=data, batch=batch, size=size):
                    clip = random_clip(trainer.config, batch, size, data)
                    start = time.perf_counter()
                    trainer.step(clip)
                    return 1000 * (time.perf_counter() - start)
                for _ in range(args.warmup):
                    step()
                print(f"ready gflop={gflop:.3f}", flush=True)
            elif words[0] == "run" and step is not None:
                print("times_ms=" + ",".join(f"{step():.3f}" for _ in range(int(words[1]))), flush=True)
            else:
                print(f"error: unknown or premature command {line.strip()!r}", flush=True)
        except Exception as e:  # one bad command must not end the session silently
            print(f"error: {e}", flush=True)


def probe_loss(trainer, x0, cond, labels, seed):
    """Loss on fixed inputs in eval mode (no dropout), eps drawn from a fixed seed."""
    import torch
    trainer.net.eval()
    with torch.no_grad():
        torch.manual_seed(seed)
        return trainer.dsm(trainer.net, x0, labels=labels, cond=cond).item()


def check(ref, training, case, config, weights, optim, args, size, batch, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    trainer = Trainer(ref, training, resized_config(config, size), weights, optim, args.p_mask, args.dropout)
    data = torch.Generator().manual_seed(0)
    clip = random_clip(trainer.config, batch, size, data)
    probe_x0, probe_cond, _ = split_clip(clip, trainer.config, 0.0, None)
    probe_t = torch.linspace(0, 999, batch).long()
    before = {k: v.detach().clone() for k, v in trainer.net.named_parameters()}
    ema_before = {k: v.clone() for k, v in trainer.ema.shadow.items()} if trainer.ema else {}
    probe0 = probe_loss(trainer, probe_x0, probe_cond, probe_t, 1234)
    steps = torch.Generator().manual_seed(2)
    losses, records = [], {}
    for i in range(CHECK_STEPS):
        labels = torch.randint(0, trainer.config["diffusion"]["num_steps"], (batch,), generator=steps)
        seed = 1000 + i
        # The reference's loss draws eps with randn_like right away (labels given): the same seed
        # reproduces it for --dump.
        torch.manual_seed(seed)
        eps = torch.randn((batch, trainer.config["data"]["channels"] * trainer.config["data"]["num_frames"],
                           size, size))
        torch.manual_seed(seed)
        mask_state = trainer.mask_generator.get_state()
        losses.append(trainer.step(clip, warmup=False, labels=labels))
        if args.dump:
            after_state = trainer.mask_generator.get_state()
            trainer.mask_generator.set_state(mask_state)
            x0, cond, _ = split_clip(clip, trainer.config, args.p_mask, trainer.mask_generator)
            trainer.mask_generator.set_state(after_state)
            records[f"step{i + 1:02d}.t"] = labels.float()
            records[f"step{i + 1:02d}.eps"] = eps
            if cond is not None:
                records[f"step{i + 1:02d}.cond"] = cond
    probe1 = probe_loss(trainer, probe_x0, probe_cond, probe_t, 1234)
    moved = max((trainer.net.get_parameter(k) - v).abs().max().item() for k, v in before.items())
    ema_moved = max(((trainer.ema.shadow[k] - v).abs().max().item() for k, v in ema_before.items()), default=0.0)
    print(f"check case={case} size={size} batch={batch} threads={threads} lr={optim['lr']} "
          f"dropout={trainer.config['model']['dropout']} p_mask={args.p_mask} seed=0")
    print("losses " + " ".join(f"{x:.2f}" for x in losses))
    ok = probe1 < probe0 and moved > 0 and (trainer.ema is None or ema_moved > 0)
    print(f"probe_loss before={probe0:.3f} after={probe1:.3f} max_weight_change={moved:.3e} "
          f"max_ema_change={ema_moved:.3e} -> {'ok' if ok else 'FAILED'}", flush=True)
    if args.dump:
        records["x0"] = probe_x0
        records["clip"] = clip
        records["losses"] = torch.tensor(losses)
        records["probe.t"] = probe_t.float()
        mr.save_safetensors(args.dump, records, trainer.config,
                            {"case": case, "probe_loss_before": f"{probe0:.6f}", "probe_loss_after": f"{probe1:.6f}",
                             "optim": repr(optim), "p_mask": str(args.p_mask)})
        print(f"wrote {args.dump}")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mr.add_reference_argument(parser)
    parser.add_argument("--case", action="append", default=[], help="fixture case(s), repeatable or comma-separated")
    parser.add_argument("--size", action="append", default=[], help="frame size(s) (default: 64)")
    parser.add_argument("--batch", action="append", default=[], help="batch size(s) (default 8)")
    parser.add_argument("--threads", action="append", default=[], help="torch thread count(s) (default 1)")
    parser.add_argument("--iters", type=int, default=5, help="timed steps per line (median reported)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    parser.add_argument("--p-mask", type=float, default=0.5,
                        help="probability of zeroing all past and, independently, all future frames (default 0.5)")
    parser.add_argument("--dropout", type=float, default=None, help="override the config's dropout (e.g. 0)")
    parser.add_argument("--optim-config", default=DEFAULT_OPTIM_CONFIG,
                        help="reference config whose optim: section is used (relative to the reference checkout)")
    parser.add_argument("--fixtures", default=DEFAULT_FIXTURES, help="directory with <case>/model.safetensors")
    parser.add_argument("--check", action="store_true", help=f"{CHECK_STEPS} seeded steps: print losses, check learning")
    parser.add_argument("--dump", help="with --check: write inputs and losses of the run to this safetensors file")
    parser.add_argument("--serve", action="store_true", help="answer setup/run commands on stdin (mcvd train-bench rounds)")
    args = parser.parse_args()
    if args.iters < 1 or args.warmup < 0 or not 0 <= args.p_mask <= 1:
        sys.exit("error: --iters must be >= 1, --warmup >= 0, --p-mask in [0, 1]")
    ref = mr.import_reference(args.reference)
    training = import_training(args.reference)
    optim = optim_settings(os.path.abspath(args.reference), args.optim_config)
    if args.serve:
        serve(ref, training, optim, args)
        return
    cases = list_arg(args.case, str) or ["tiny-concat"]
    sizes = list_arg(args.size, int) or [64]
    batches = list_arg(args.batch, int) or [8]
    threads = list_arg(args.threads, int) or [1]
    if min(batches) < 1 or min(threads) < 1:
        sys.exit("error: --batch and --threads must be >= 1")
    if args.dump and (not args.check or len(cases) * len(sizes) * len(batches) * len(threads) != 1):
        sys.exit("error: --dump needs --check and a single case, size, batch and thread count")
    failed = False
    for case in cases:
        path = os.path.join(args.fixtures, case, "model.safetensors")
        if not os.path.isfile(path):
            sys.exit(f"error: no model for case {case!r} at {path}")
        weights, config = mr.load_safetensors(path)
        for size in sizes:
            for batch in batches:
                for n in threads:
                    if args.check:
                        failed |= not check(ref, training, case, config, weights, optim, args, size, batch, n)
                    else:
                        bench(ref, training, case, config, weights, optim, args, size, batch, n)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
