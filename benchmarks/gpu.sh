#!/usr/bin/env bash
# The CUDA path of labelspace checked in one call, in under 10 minutes on one H100/H200:
#   1. benchmarks/throughput.py on the GPU: every method's training and evaluation images/s
#      (small-cnn, channels-last, batch 256) in fp32 and with bf16 autocast;
#   2. a short Tiny ImageNet comparison on the GPU: softmax against poincare, 64 px, streamed
#      from files in 8 DataLoader workers, --precision bf16-mixed, 2 epochs each, evaluated.
# Usage: benchmarks/gpu.sh [TINY_IMAGENET_DIR] [OUT]
#   TINY_IMAGENET_DIR: the official layout (default ~/.cache/tiny-imagenet/tiny-imagenet-200;
#   any dataset labelspace reads will do, e.g. shards from `labelspace pack`).
#   OUT: where the figures go (default runs/gpu-check); OUT/summary.txt holds them all.
# Environment: PYTHON (default .venv/bin/python), EPOCHS (2), LIMIT (no limit: all 90,000
# training images), ACCELERATOR (gpu; `cpu` runs the same steps as a smoke test).
set -euo pipefail
data=${1:-$HOME/.cache/tiny-imagenet/tiny-imagenet-200}
out=${2:-runs/gpu-check}
py=${PYTHON:-.venv/bin/python}
accelerator=${ACCELERATOR:-gpu}
epochs=${EPOCHS:-2}
limit=${LIMIT:+--train-limit $LIMIT --test-limit $LIMIT}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
{
  echo "# labelspace GPU check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  "$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} | tee "$out/summary.txt"

device=cuda
[ "$accelerator" = cpu ] && device=cpu
for precision in 32 bf16; do
  echo "## throughput, $precision" | tee -a "$out/summary.txt"
  "$py" benchmarks/throughput.py --device "$device" --precision "$precision" \
    --batch-size 256 --rounds 3 --steps 20 --no-decode \
    --json "$out/throughput-$precision.json" 2>&1 | tee -a "$out/summary.txt"
done

echo "## Tiny ImageNet, softmax vs poincare, 64 px, bf16-mixed, $epochs epochs" | tee -a "$out/summary.txt"
"$py" -m labelspace compare "$out/tiny-imagenet" --data "$data" --image-size 64 \
  --methods softmax,poincare --epochs "$epochs" --batch-size 256 \
  --accelerator "$accelerator" --precision bf16-mixed --streaming --workers 8 --no-analyze \
  --overwrite $limit 2>&1 | tee -a "$out/summary.txt"
"$py" - "$out/tiny-imagenet" <<'PY' | tee -a "$out/summary.txt"
import json, sys
from pathlib import Path
for m in ("softmax", "poincare"):
    r = json.loads((Path(sys.argv[1]) / m / "metrics.json").read_text())
    print(f"{m}: top-1 {100 * r['test']['top1']:.2f} %, severity {r['test']['severity']:.3f}, "
          f"train {r['train_images_per_second']:,.0f} images/s, eval {r['eval_images_per_second']:,.0f} images/s")
PY
