#!/usr/bin/env bash
# Install the R peers msprog 1.0.0.9000 and MSoutcomes 0.2.1 (MIT) from the source archives in
# ../shared/peers/ into a private R library, benchmarks/.rlib (never into the project). Needs
# Debian's r-base-core and r-cran-dplyr (which brings rlang). Prints the library path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
peers="${SMOULDER_PEERS:-$here/../../shared/peers}"
lib="$here/.rlib"
if ! command -v Rscript >/dev/null 2>&1; then
  echo "Rscript not found: apt-get install -y r-base-core r-cran-dplyr" >&2
  exit 1
fi
mkdir -p "$lib"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
for pkg in MSoutcomes msprog; do
  if ! R_LIBS_USER="$lib" Rscript -e "quit(status = !requireNamespace('$pkg', quietly = TRUE, lib.loc = '$lib'))" >/dev/null 2>&1; then
    archive=$(ls "$peers"/"$pkg"*.tar.gz | head -n 1)
    tar xzf "$archive" -C "$tmp"
    R CMD INSTALL --no-docs --no-html --no-test-load -l "$lib" "$tmp/$pkg" >"$tmp/$pkg.log" 2>&1 ||
      { cat "$tmp/$pkg.log" >&2; exit 1; }
  fi
done
echo "$lib"
