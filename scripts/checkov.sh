#!/usr/bin/env bash
# Runs checkov (pinned) over template.yaml with its CloudFormation checks, which read SAM's
# resource types and Globals too. Fails on any failed check. A check that does not apply
# is skipped in the resource's Metadata (checkov.skip, each with the reason), never here.
#
#   scripts/checkov.sh [checkov options...]     (e.g. -o json)
#
# checkov lives in its own virtual environment, target/tools/checkov-venv, not in the
# project's .venv (requirements-dev.txt): checkov 3.3.30 requires boto3==1.35.49 and
# aws-sam-cli 1.170.0 requires boto3[crt]==1.43.108: no boto3 satisfies both, and pip
# refuses the pair. checkov would also need packaging<24 and networkx<2.7, where .venv
# pins 26.4 and 3.6.1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CHECKOV_VERSION=3.3.30
venv="$root/target/tools/checkov-venv"

if [[ $("$venv/bin/checkov" --version 2>/dev/null) != "$CHECKOV_VERSION" ]]; then
    echo "== installing checkov $CHECKOV_VERSION into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

cd "$root"
# --skip-download: nothing is fetched from Prisma Cloud (guidelines, custom policies), so
# the result depends on this version's checks alone. --quiet: failed checks and the
# summary only; --compact: without the template lines of each.
exec "$venv/bin/checkov" \
    --file template.yaml \
    --framework cloudformation \
    --compact \
    --quiet \
    --skip-download \
    "$@"
