#!/usr/bin/env bash
# The GPU study in one go: Kermany controlled-imbalance sweep (64 px) + NIH patient-grouped CV (64 px),
# results tarred into $OUT. Run from a folder holding the project's packages and data/ (packed with
# scripts/pack_manifest.py):   bash scripts/gpu_study.sh            (TINY=1: a minutes-long CPU rehearsal)
# Uses the machine's python3 (torch with CUDA) and PYTHONPATH, not uv: the GPU box has no registry.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=1
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
RES=${RES:-/tmp/gpu_results}; mkdir -p "$RES"
PY=${PY:-python3}
LIMIT=${LIMIT:-450}          # seconds the studies may run before whatever finished is packed
START=$(date +%s)
log() { echo "[$(( $(date +%s) - START ))s] $*"; }
$PY - <<'PY' 2>&1 | tee "$OUT/env.txt"
import torch, sys
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "-")
PY
if [ "${TINY:-0}" = 1 ]; then
  FLAGS=(--gan-steps 4 --clf-epochs 1 --batch-size 16 --seeds 2); W=1; RATIOS=0.05,0.2; FOLDS=3
else
  FLAGS=(--seeds 3); W=3; RATIOS=0.01,0.05,0.2; FOLDS=5
fi
run() { local name=$1; shift; log "start $name"; timeout $(( LIMIT - ($(date +%s) - START) )) \
  $PY -m medharvest experiment "$@" -q > "$RES/$name.log" 2>&1; log "end $name rc=$?"; }
# the three ratios in parallel (each 3 seed workers): the GPU is shared. Measured 2026-12-04 on one H200
# with the NIH CV beside them and gan_filter 4: in 480 s every job had trained its generator (2,000
# updates) and the three real-data arms, none had finished sampling + the two GAN arms. Hence: the NIH CV
# only with NIH=1 (it runs on CPU well enough), and fewer candidates per kept synthetic image (toml).
for r in ${RATIOS//,/ }; do
  run "kermany_r$r" data/kermany64 --out "$RES/kermany64" --imbalance Pneumonia --ratios "$r" --budget gpu \
      --config scripts/gpu_study.toml --workers $W "${FLAGS[@]}" &
done
if [ "${NIH:-0}" = 1 ]; then
  run nih_cv data/nih64 --out "$RES/nih64_cv" --folds $FOLDS --budget gpu --config scripts/gpu_study.toml \
      --workers $(( W * 2 )) "${FLAGS[@]}" &
fi
wait
# the sweep's table over all ratios (each ratio ran as its own process above)
log "sweep table"
$PY - "$RES/kermany64" <<'PY' > "$RES/sweep.log" 2>&1
import json, sys
from pathlib import Path
from study.sweep import write_sweep
out = Path(sys.argv[1])
res = {}
for d in sorted(out.glob("ratio_*")):
    s = d / "stats.json"
    if s.exists():
        st = json.loads(s.read_text())
        res[float(d.name[6:])] = {**st, "kept_train_rows": st["split_counts"]["Pneumonia"]["train"]}
if res:
    print(json.dumps(write_sweep(res, "Pneumonia", out)["rows"], indent=0)[:3000])
PY
nvidia-smi --query-gpu=name,memory.used,utilization.gpu --format=csv > "$RES/nvidia-smi.txt" 2>&1
log "packing"
# scores.npz stay (pooling folds and the bootstrap need them); checkpoints, images and samples do not
( cd "$RES" && tar czf "$OUT/results.tar.gz" --exclude='*.pt' --exclude='*/images/*' --exclude='*.parquet' \
    --exclude='synthetic' --exclude='samples' --exclude='grids' . )
cp "$RES"/*.log "$OUT/" 2>/dev/null; ls -la "$OUT"; log "done"
