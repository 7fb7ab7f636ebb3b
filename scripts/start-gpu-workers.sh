#!/usr/bin/env bash
# Start one Prefect worker per GPU of this host. Each worker sees only its own GPU
# (CUDA_VISIBLE_DEVICES) and takes one flow run at a time (--limit 1), so a GPU never runs
# two jobs. Stopping this script (Ctrl-C, SIGTERM) stops every worker it started.
#
#   scripts/start-gpu-workers.sh [POOL]      default pool: gpu
#   VIDFLOW_GPUS=0,1 scripts/start-gpu-workers.sh   which GPUs (default: all nvidia-smi lists)
#
# PREFECT_API_URL must point at the Prefect server, as for any worker.
set -euo pipefail
pool="${1:-gpu}"
if [ -n "${VIDFLOW_GPUS:-}" ]; then
  IFS=, read -ra gpus <<< "$VIDFLOW_GPUS"
else
  mapfile -t gpus < <(nvidia-smi --query-gpu=index --format=csv,noheader)
fi
[ ${#gpus[@]} -gt 0 ] || { echo "no GPU found; set VIDFLOW_GPUS=0,1,..." >&2; exit 2; }

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; }
trap stop INT TERM
for gpu in "${gpus[@]}"; do
  CUDA_VISIBLE_DEVICES="$gpu" prefect worker start --pool "$pool" --limit 1 \
    --name "$(hostname)-gpu-$gpu" &
  pids+=("$!")
  echo "worker for GPU $gpu: pid $!"
done
wait || true # every worker ended, or a signal arrived
stop
wait || true
