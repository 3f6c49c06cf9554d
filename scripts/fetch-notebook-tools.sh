#!/usr/bin/env bash
# Fetches what executing an exported notebook needs (nbconvert, ipykernel, pandas, matplotlib)
# into .build/notebook-python, for the test that runs `jupyter nbconvert --execute` on one.
# Needs python3 with pip and access to PyPI; does nothing when already there.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.build/notebook-python
if [ -f "$dest/.complete" ]; then exit 0; fi
rm -rf "$dest"
python3 -m pip install --quiet --disable-pip-version-check --target "$dest" nbconvert ipykernel pandas matplotlib
touch "$dest/.complete"
echo "fetch-notebook-tools: nbconvert and its kernel are in $dest"
