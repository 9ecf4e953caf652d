#!/usr/bin/env bash
# tuneforge workers as a Slurm job array: every array task is one worker of the same study.
#   sbatch --array=0-15 examples/cluster/slurm-array.sh
# Preempted or failed tasks lose only their running trial: its heartbeats stop, another worker
# fails it after `heartbeat_grace` and re-runs it (`retries` in the study file).
#SBATCH --job-name=tuneforge
#SBATCH --array=0-15
#SBATCH --cpus-per-task=4
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --output=tuneforge-%A_%a.log
set -euo pipefail
# The shared database: keep the password out of the script (e.g. in ~/.pgpass or a secret).
: "${TUNEFORGE_STORAGE:?set TUNEFORGE_STORAGE=postgres://user@dbhost/tuneforge}"
export TUNEFORGE_STORAGE
STUDY_FILE="${STUDY_FILE:-$(dirname "$0")/study.toml}"
STUDY_NAME="${STUDY_NAME:-cluster-demo}"
# Creating is idempotent: the first task creates the study, the others find it.
tuneforge create "$STUDY_FILE"
exec tuneforge worker --study "$STUDY_NAME" --dir "$(dirname "$STUDY_FILE")" --jobs "${TUNEFORGE_JOBS:-1}"
