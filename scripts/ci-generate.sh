#!/usr/bin/env bash
# The run step of .github/workflows/generate.yml, in both modes. Event data arrives only
# through environment variables (EVENT_NAME, BEFORE_SHA, AFTER_SHA, INPUT_FILES,
# INPUT_PRESET, INPUT_DRY_RUN); the run's report is written to run-report.json.
#
# Self-hosted mode generates on this runner's GPUs. Pool mode (VIDFLOW_FANOUT_DEPLOYMENT
# set) moderates here and hands the jobs to the Prefect work pool, waiting for the shards.
set -euo pipefail
shopt -s globstar nullglob

if [ -n "${VIDFLOW_FANOUT_DEPLOYMENT:-}" ]; then
  # The workers write to the store, so it must be one every worker and this runner reach.
  [ -n "${PREFECT_API_URL:-}" ] || { echo "::error::pool mode needs the PREFECT_API_URL secret"; exit 2; }
  [ -n "${VIDFLOW_STORE_URL:-}" ] || { echo "::error::pool mode needs a shared store: set the VIDFLOW_STORE_URL variable"; exit 2; }
elif [ -z "${VIDFLOW_STORE_URL:-}" ]; then
  # The store must outlive the run: never inside the workspace, which checkout cleans.
  export VIDFLOW_ARTIFACTS_DIR="${VIDFLOW_ARTIFACTS_DIR:-$HOME/.local/share/vidflow/store}"
  mkdir -p "$VIDFLOW_ARTIFACTS_DIR"
  echo "VIDFLOW_ARTIFACTS_DIR=$VIDFLOW_ARTIFACTS_DIR" >> "${GITHUB_ENV:-/dev/null}"
fi

args=()
if [ "${EVENT_NAME:-}" = "push" ]; then
  # An all-zero or vanished base (new branch, force push) makes vidflow scan every file;
  # finished jobs are found by content hash and not generated again.
  args+=(--changed "$BEFORE_SHA..$AFTER_SHA")
elif [ -n "${INPUT_FILES:-}" ]; then
  read -ra patterns <<< "$INPUT_FILES"
  for pattern in "${patterns[@]}"; do
    matches=($pattern)
    [ ${#matches[@]} -gt 0 ] || { echo "::error::no prompt file matches $pattern"; exit 2; }
    args+=("${matches[@]}")
  done
fi
if [ -n "${INPUT_PRESET:-}" ]; then args+=(--preset "$INPUT_PRESET"); fi
if [ "${INPUT_DRY_RUN:-}" = "true" ]; then args+=(--dry-run); fi
.venv/bin/vidflow run --json "${args[@]}" > run-report.json
