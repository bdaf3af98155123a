# shellcheck shell=bash
# Sourced by the bench scripts that run helpers from the build tree. bench_setup HELPER... sets
# root (the repository), build ($BUILD, default root/build), teelm and tmp (a scratch directory
# removed at exit), and stops with "build first" when teelm or a HELPER (a path under build) is
# not built.
bench_setup() {
  root=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
  build=${BUILD:-$root/build}
  teelm=$build/teelm
  local x
  for x in "$teelm" "${@/#/$build/}"; do
    [ -x "$x" ] || { echo "build first: make build ($x is missing)"; exit 1; }
  done
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
}
