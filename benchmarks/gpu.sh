#!/usr/bin/env bash
# labelspace on one GPU in one call, about 12 minutes on an H100 with set-up:
#   1. benchmarks/throughput.py: labelspace's training loop against a bare PyTorch loop on the
#      same network, batch and device tensors, small-cnn and resnet18 at 32 and 64 px, in fp32
#      and with bf16 autocast;
#   2. resnet18 trained from scratch on Tiny ImageNet-200 at 64 px with softmax, frame and joint,
#      EPOCHS (15) epochs each, bf16-mixed, batch 256, the decoded images held on the GPU. Each
#      call trains the next seed: seed S, where S seeds are already finished in OUT (a call
#      that was cut off finishes its seed first), so reruns reuse every finished run and add a
#      seed;
#   3. the comparison report over every finished seed (report.md, with +CRM rows), and the
#      figures in OUT/summary.txt.
# Usage: benchmarks/gpu.sh [DATA] [OUT]
#   DATA: Tiny ImageNet-200 in its official layout, already on this machine (nothing is
#   downloaded; default ~/.cache/tiny-imagenet/tiny-imagenet-200), or any dataset labelspace
#   reads. It is decoded once into the cache ($LABELSPACE_CACHE, by default OUT/cache) and
#   read from there by every later run.
#   OUT: where runs, report and figures go (default runs/gpu-study).
# Environment: PYTHON (.venv/bin/python), ACCELERATOR (gpu; cpu runs every step on the CPU,
#   the smoke test), EPOCHS (15), BACKBONE (resnet18), METHODS (softmax,frame,joint), BATCH
#   (256), LIMIT and TEST_LIMIT (images per run; default all), COMPILE (1: --compile),
#   THROUGHPUT ("--backbones small-cnn,resnet18 --sizes 32,64 --images 8192 --seconds 2
#   --rounds 2": about 3 minutes of the 12).
set -euo pipefail
data=${1:-$HOME/.cache/tiny-imagenet/tiny-imagenet-200}
out=${2:-runs/gpu-study}
py=${PYTHON:-.venv/bin/python}
accelerator=${ACCELERATOR:-gpu}
epochs=${EPOCHS:-15}
backbone=${BACKBONE:-resnet18}
methods=${METHODS:-softmax,frame,joint}
batch=${BATCH:-256}
throughput=${THROUGHPUT:---backbones small-cnn,resnet18 --sizes 32,64 --images 8192 --seconds 2 --rounds 2}
limits=()
[ -n "${LIMIT:-}" ] && limits+=(--train-limit "$LIMIT")
[ -n "${TEST_LIMIT:-}" ] && limits+=(--test-limit "$TEST_LIMIT")
compile=()
[ "${COMPILE:-0}" = 1 ] && compile+=(--compile)
device=cuda
[ "$accelerator" = cpu ] && device=cpu
[ -e "$data" ] || { echo "gpu.sh: no dataset at $data (see the usage at the top)" >&2; exit 2; }

mkdir -p "$out"
export LABELSPACE_CACHE=${LABELSPACE_CACHE:-$out/cache}
export PYTHONUNBUFFERED=1
summary=$out/summary.txt
start=$SECONDS
elapsed() { echo "[$((SECONDS - start)) s]"; }
{
  echo "# labelspace GPU study, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} | tee "$summary"

for precision in 32 bf16; do
  echo "## training loop against a bare loop, $precision $(elapsed)" | tee -a "$summary"
  # shellcheck disable=SC2086  # THROUGHPUT is a list of options
  "$py" benchmarks/throughput.py --device "$device" --precision "$precision" \
    --batch-size "$batch" $throughput --json "$out/throughput-$precision.json" 2>&1 | tee -a "$summary"
done

# the next seed: the first whose runs are not all finished
IFS=, read -r -a names <<< "$methods"
finished() {  # whether every method of seed $1 has its metrics
  for m in "${names[@]}"; do [ -f "$out/runs/seed-$1/$m/metrics.json" ] || return 1; done
}
seed=0
while finished "$seed"; do seed=$((seed + 1)); done

echo "## Tiny ImageNet, $backbone from scratch, 64 px, $methods, $epochs epochs, seed $seed $(elapsed)" | tee -a "$summary"
"$py" -m labelspace compare "$out/runs/seed-$seed" --data "$data" --image-size 64 --in-memory \
  --methods "$methods" --backbone "$backbone" --epochs "$epochs" --batch-size "$batch" \
  --seed "$seed" --accelerator "$accelerator" --precision bf16-mixed --no-analyze \
  "${limits[@]}" "${compile[@]}" 2>&1 | tee -a "$summary"

seeds=$((seed + 1))
report=$out/runs/seed-0/report.md
if [ "$seeds" -gt 1 ]; then  # every finished run is reused: this only writes the report
  echo "## the report over $seeds seeds $(elapsed)" | tee -a "$summary"
  "$py" -m labelspace compare "$out/runs" --data "$data" --image-size 64 --in-memory \
    --methods "$methods" --backbone "$backbone" --epochs "$epochs" --batch-size "$batch" \
    --seed 0 --seeds "$seeds" --accelerator "$accelerator" --precision bf16-mixed --no-analyze \
    "${limits[@]}" "${compile[@]}" 2>&1 | tee -a "$summary"
  report=$out/runs/report.md
fi
"$py" - "$out/runs" "$seeds" "${names[@]}" <<'PY' | tee -a "$summary"
import json, sys
from pathlib import Path
runs, seeds, methods = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
for s in range(seeds):
    for m in methods:
        r = json.loads((runs / f"seed-{s}" / m / "metrics.json").read_text())
        t = r["test"]
        print(f"seed {s} {m}: top-1 {100 * t['top1']:.2f} %, mistake severity {t['severity']:.3f}, "
              f"train {r['train_images_per_second']:,.0f} images/s in {r['train_seconds']:.0f} s, "
              f"eval {r['eval_images_per_second']:,.0f} images/s")
PY
echo "report: $report $(elapsed)" | tee -a "$summary"
