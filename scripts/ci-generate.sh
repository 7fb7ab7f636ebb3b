#!/usr/bin/env bash
# The run step of .github/workflows/generate.yml, in both modes. Event data arrives only
# through environment variables (EVENT_NAME, BEFORE_SHA, AFTER_SHA, INPUT_FILES,
# INPUT_PRESET, INPUT_DRY_RUN), never through expressions in the script.
#
# Self-hosted mode generates on this runner's GPUs. Pool mode (VIDFLOW_FANOUT_DEPLOYMENT
# set) moderates here and hands the jobs to the Prefect work pool, waiting for the shards.
set -euo pipefail
shopt -s globstar nullglob

if [ -n "${VIDFLOW_FANOUT_DEPLOYMENT:-}" ]; then
  # The workers write to the store, so it must be one every worker and this runner reach.
  [ -n "${PREFECT_API_URL:-}" ] || { echo "::error::pool mode needs the PREFECT_API_URL secret"; exit 3; }
  [ -n "${VIDFLOW_STORE_URL:-}" ] || { echo "::error::pool mode needs a shared store: set the VIDFLOW_STORE_URL variable"; exit 3; }
elif [ -z "${VIDFLOW_STORE_URL:-}" ]; then
  # The store must outlive the run: never inside the workspace, which checkout cleans.
  export VIDFLOW_ARTIFACTS_DIR="${VIDFLOW_ARTIFACTS_DIR:-$HOME/.local/share/vidflow/store}"
  mkdir -p "$VIDFLOW_ARTIFACTS_DIR"
  echo "VIDFLOW_ARTIFACTS_DIR=$VIDFLOW_ARTIFACTS_DIR" >> "${GITHUB_ENV:-/dev/null}"
fi

args=()
if [ "${EVENT_NAME:-}" = "push" ]; then
  # An all-zero or vanished base (new branch, force push) makes vidflow scan every
  # file; finished jobs are found by content hash and not generated again.
  args+=(--changed "$BEFORE_SHA..$AFTER_SHA")
elif [ -n "${INPUT_FILES:-}" ]; then
  # Each pattern is matched inside prompts/ only: no absolute path, no '..', and
  # vidflow itself refuses anything that resolves outside the prompts folder.
  read -ra patterns <<< "$INPUT_FILES"
  for pattern in "${patterns[@]}"; do
    pattern="${pattern#prompts/}"
    case "/$pattern/" in
      //*|*/../*) echo "::error::not a path inside prompts/"; exit 2 ;;
    esac
    matches=(prompts/$pattern)
    [ ${#matches[@]} -gt 0 ] || { echo "::error::no prompt file matches a pattern"; exit 2; }
    args+=("${matches[@]}")
  done
fi
if [ -n "${INPUT_PRESET:-}" ]; then args+=(--preset "$INPUT_PRESET"); fi
if [ "${INPUT_DRY_RUN:-}" = "true" ]; then args+=(--dry-run); fi
code=0
.venv/bin/vidflow run "${args[@]}" || code=$?
# One meaning per exit code (README, "Exit codes").
case $code in
  0) ;;
  1) echo "::error::moderation or output safety stopped a job (see the job summary)" ;;
  2) echo "::error::an invalid prompt file or a failed job (see the job summary)" ;;
  3) echo "::error::configuration or environment error (see the log line above)" ;;
  *) echo "::error::vidflow stopped unexpectedly (exit $code)" ;;
esac
exit $code
