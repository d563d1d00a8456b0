#!/usr/bin/env bash
# Regenerates the shipped default models from scratch: seeded, and resuming from their last states
# whenever it is started again (the machine may stop at any time). Two lines of training share their
# first INTERP_ONLY_AT steps: models/default.safetensors (interpolation) goes on with interpolation draws
# only; models/default-predict.safetensors (prediction and generation: mode=predict, mcvdsrc) is the state
# there and, given more steps, goes on with the same draws as before (masks 0.25 / 0.25: it must keep
# predicting backwards and starting from nothing; a prediction-only phase did not help prediction either,
# docs/default-model.md).
#
#   tools/train-default.sh [TOTAL_STEPS [PREDICT_TOTAL_STEPS]]   (defaults: the shipped models' steps)
#
# Env: MCVD_TRAIN_STATE=<file> the full training checkpoint (weights, EMA, Adam moments, step; ~27 MB, not
#      committed; default .train/default-state.safetensors; the prediction line's is <file>.predict),
#      MCVD_THREADS (default 1), CHUNK=<steps between exports> (default 1000).
# Every CHUNK steps the EMA weights are exported in F16 WITH the training record (`mcvd export
# --keep-training`) to models/default.safetensors (~3 MB): the file the element and the CLI use when no
# model is given, and the state a fresh machine resumes from (lightly: optimiser moments start afresh;
# docs/training.md). Commit it to keep the hours trained; the repo keeps one such file, replaced.
# Resumes from the local full state when it is at least as far as the shipped file, else from the shipped
# file, else starts from scratch. Cost, measured on an AMD EPYC (Zen 3, AVX2, 1 thread, other core busy):
# 0.6-1.0 s per step of 16 clips of 32x32, about 4,000-5,000 steps an hour; from WHOLE_CROP_AT 1.1 s per
# step of 8 clips of 64x64, about 3,300 steps an hour (an AMD EPYC with AVX-512: 2.1-2.3 steps a second,
# about 8,000 an hour): the shipped 29,613 steps take about 7.5 hours on the AVX2 core.
# The settings (docs/default-model.md says why): concat U-Net ngf 32, ch_mult 1,2,2, one res block,
# attention at 16 (1.65M parameters); k = 2 past, n = 1, f = 2 future frames at condition stride 2 (2x
# frame-rate conversion); residual over the motion-compensated base; masks 0.25 / 0.25 (56% of samples
# are interpolation); 90% of the samples trained as the noise-free one-step sampler runs the network.
# From step LR_DROP_AT (default 7451, where the shipped model's first phase ended) the peak learning rate
# is 5e-5 instead of 2e-4 (`mcvd train --resume ... --lr 5e-5`; docs/default-model.md, third session);
# from step BASE_FROM_FRAME_AT (default 9129) the motion base is computed on the whole frames
# (`--base-from-frame`; docs/default-model.md, fourth session); from step WHOLE_CROP_AT (default 18000)
# the training crops are 64 x 64 (the whole height at 64 rows) in batches of 8 (`--crop 64 --batch 8`),
# from step TIME_REVERSE_AT (default 19500) half of the clips are read backwards in time
# (`--time-reverse`; docs/default-model.md, fifth session), and from step INTERP_ONLY_AT (default 23310,
# where the fifth session's model ended) every draw is interpolation (`--p-mask-past 0 --p-mask-future 0`;
# at peak rate 1e-4; docs/default-model.md, seventh session).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
total=${1:-29613}
predict_total=${2:-23310}
state=${MCVD_TRAIN_STATE:-$root/.train/default-state.safetensors}
out=$root/models/default.safetensors
pstate=$state.predict
pout=$root/models/default-predict.safetensors
threads=${MCVD_THREADS:-1}
chunk=${CHUNK:-1000}
drop_at=${LR_DROP_AT:-7451}
frame_at=${BASE_FROM_FRAME_AT:-9129}
crop_at=${WHOLE_CROP_AT:-18000}
reverse_at=${TIME_REVERSE_AT:-19500}
interp_at=${INTERP_ONLY_AT:-23310}
interp_lr=0.0001; interp_lr_json=0.0001   # the interpolation-only phase's peak rate (as train.options spells it)
export PATH=/opt/swift/usr/bin:$PATH
cd "$root"
swift build -c release --product mcvd 2>&1 | tail -1
mcvd=$(swift build -c release --show-bin-path)/mcvd
mkdir -p "$(dirname "$state")" "$root/models"

# meta FILE KEY: a metadata value of a safetensors file ("" when absent).
meta() {
  python3 -c '
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    print(json.loads(f.read(n)).get("__metadata__", {}).get(sys.argv[2], ""))' "$1" "$2"
}
step_of() { if [ -f "$1" ]; then meta "$1" step; else echo -1; fi; }

common=(--data-md --threads "$threads" --checkpoint-every 500 --validate-every 1000 --validation-clips 64 --log-every 200)
from=
if [ -f "$state" ] && [ "$(step_of "$state")" -ge "$(step_of "$out")" ]; then
  from=$state
elif [ -f "$out" ] && [ -n "$(meta "$out" train.options)" ]; then
  from=$out
fi
done_steps=0
[ -n "$from" ] && done_steps=$(step_of "$from")
echo "train-default: $done_steps of $total steps done (from: ${from:-scratch})"
while [ "$done_steps" -lt "$total" ]; do
  next=$(( done_steps + chunk < total ? done_steps + chunk : total ))
  [ "$done_steps" -lt "$drop_at" ] && [ "$next" -gt "$drop_at" ] && next=$drop_at
  [ "$done_steps" -lt "$frame_at" ] && [ "$next" -gt "$frame_at" ] && next=$frame_at
  [ "$done_steps" -lt "$crop_at" ] && [ "$next" -gt "$crop_at" ] && next=$crop_at
  [ "$done_steps" -lt "$reverse_at" ] && [ "$next" -gt "$reverse_at" ] && next=$reverse_at
  [ "$done_steps" -lt "$interp_at" ] && [ "$next" -gt "$interp_at" ] && next=$interp_at
  lr=()
  if [ -n "$from" ] && [ "$done_steps" -ge "$interp_at" ]; then
    meta "$from" train.options | grep -q "\"lr\":$interp_lr_json" || lr=(--lr "$interp_lr")
  elif [ -n "$from" ] && [ "$done_steps" -ge "$drop_at" ] && ! meta "$from" train.options | grep -q '"lr":5e-05'; then
    lr=(--lr 5e-5)
  fi
  frame=()
  if [ -n "$from" ] && [ "$done_steps" -ge "$frame_at" ] && ! meta "$from" mcvd.train.settings | grep -q '"baseFromFrame":true'; then
    frame=(--base-from-frame)
  fi
  crop=()
  if [ -n "$from" ] && [ "$done_steps" -ge "$crop_at" ] && ! meta "$from" mcvd.train.settings | grep -q '"crop":64'; then
    crop=(--crop 64 --batch 8)
  fi
  reverse=()
  if [ -n "$from" ] && [ "$done_steps" -ge "$reverse_at" ] && ! meta "$from" mcvd.train.settings | grep -q '"timeReverse":true'; then
    reverse=(--time-reverse)
  fi
  interp=()
  if [ -n "$from" ] && [ "$done_steps" -ge "$interp_at" ] && ! meta "$from" mcvd.train.settings | grep -q '"pMaskFuture":0,'; then
    interp=(--p-mask-past 0 --p-mask-future 0)
  fi
  if [ -n "$from" ]; then
    "$mcvd" train "${common[@]}" --metrics "$state.jsonl" --resume "$from" "${lr[@]}" "${frame[@]}" "${crop[@]}" "${reverse[@]}" "${interp[@]}" \
        --out "$state" --steps "$next"
  else
    "$mcvd" train "${common[@]}" --metrics "$state.jsonl" --out "$state" --steps "$next" --seed 1 \
        --size 64 --crop 32 --batch 16 --past 2 --current 1 --future 2 --condition-stride 2 --dropout 0.1 \
        --base motion --p-mask-past 0.25 --p-mask-future 0.25 --one-step-fraction 0.9
  fi
  from=$state
  "$mcvd" export "$state" --out "$out.tmp" --dtype f16 --keep-training && mv "$out.tmp" "$out"
  done_steps=$(step_of "$state")
  echo "train-default: $done_steps steps; exported $out"
  if [ "$done_steps" -eq "$interp_at" ] && [ "$(step_of "$pout")" -lt "$interp_at" ]; then
    cp "$state" "$pstate.tmp" && mv "$pstate.tmp" "$pstate"       # the prediction line forks here
    cp "$out" "$pout"
    echo "train-default: the prediction line starts from step $done_steps: $pout"
  fi
done

# The prediction line: from its local full state when at least as far as the shipped file, else the
# shipped file (light resume); it needs the state at INTERP_ONLY_AT, which a run from scratch makes above.
if [ -f "$pstate" ] && [ "$(step_of "$pstate")" -ge "$(step_of "$pout")" ]; then
  from=$pstate
elif [ -f "$pout" ] && [ -n "$(meta "$pout" train.options)" ]; then
  from=$pout
else
  echo "train-default: no prediction line to continue ($pout is missing): run from scratch (no models/default.safetensors) to make it" >&2
  exit 1
fi
done_steps=$(step_of "$from")
echo "train-default: prediction line, $done_steps of $predict_total steps done (from: $from)"
while [ "$done_steps" -lt "$predict_total" ]; do
  next=$(( done_steps + chunk < predict_total ? done_steps + chunk : predict_total ))
  "$mcvd" train "${common[@]}" --metrics "$pstate.jsonl" --resume "$from" --out "$pstate" --steps "$next"
  from=$pstate
  "$mcvd" export "$pstate" --out "$pout.tmp" --dtype f16 --keep-training && mv "$pout.tmp" "$pout"
  done_steps=$(step_of "$pstate")
  echo "train-default: prediction line, $done_steps steps; exported $pout"
done
