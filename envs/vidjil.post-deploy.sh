#!/usr/bin/env bash
# Run by Snakemake (from a copy under .snakemake/conda/) once it has created the
# conda environment of envs/vidjil.yaml: installs this project, engine included,
# into that environment. rules/common.smk sets VIDJIL_PROJECT to the checkout.
set -euo pipefail
python -m pip install --no-deps "${VIDJIL_PROJECT:?VIDJIL_PROJECT: the project checkout, set by the workflow}"
