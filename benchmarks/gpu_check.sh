#!/usr/bin/env bash
# One prepared device call (about 8 minutes on an H100): the pretraining throughput table (model-only vs
# end to end, 96 and 224 px, batch 256), then, when a prepared knee cache was carried along as
# runs/knee-cache96 (xrayssl data prepare ../shared/data/knee_oa --out runs/knee-cache96 --size 96 --no-clahe),
# SSL on the knees for a 3-minute budget with the floors and the 10 % supervised baseline.
#   device run:  carry runs/knee-cache96 (about 50 MB), command: bash benchmarks/gpu_check.sh
set -uo pipefail
export PYTHONUNBUFFERED=1
OUT=${OUT:-runs/gpu-check}
mkdir -p "$OUT"
python -m pip install -q -e . 2>&1 | tail -2
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt"
python benchmarks/bench_pretrain_throughput.py --device cuda --sizes 96,224 --batch 256 --steps 200 \
    --work /tmp/throughput 2>&1 | grep -v Warning | tee "$OUT/throughput.md"
if [ -d runs/knee-cache96 ]; then
    python benchmarks/bench_ssl_knee.py --cache runs/knee-cache96 --size 96 --budget 3m --supervised-budget 3m \
        --supervised-fractions 0.1 --pools avg,grid2 --out /tmp/knee 2>&1 | grep -v Warning | tee "$OUT/knee.md"
fi
