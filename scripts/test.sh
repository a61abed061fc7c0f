#!/usr/bin/env bash
# Runs lunet's whole test suite: the C tests and the busted specs, through ctest.
# Sets up and builds first when needed (scripts/setup.sh).
#   scripts/test.sh              everything
#   scripts/test.sh -R conv      only tests whose name matches (ctest's -R)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
  echo "usage: scripts/test.sh [ctest options, e.g. -R conv]"
  echo "Builds lunet if needed (scripts/setup.sh), then runs ctest in build/."
  exit 0
fi
"$root/scripts/setup.sh" --no-data   # the tests find MNIST themselves (../shared or data/mnist)
cd "$root/build"
ctest --output-on-failure -j"$(nproc)" "$@"
