#!/usr/bin/env bash
# Starts the confidential server inside the Occlum instance built by build.sh.
# The enclave runs only its measured command (TEELM_ENCLAVE_CONFIG=/etc/teelm/serve.json in the
# measured Occlum.json): it asks the key broker fixed at build time for the model key (attesting with
# a DCAP quote), decrypts the model in enclave memory and serves HTTPS with an RA-TLS certificate.
# The only setting the host supplies is the listen address (docs/deploy-occlum.md says why that is
# safe); the enclave refuses to start on any other argument.
#
# usage: deploy/occlum/run.sh INSTANCE_DIR [--listen ADDR]
set -euo pipefail
die() { echo "occlum run: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: run.sh INSTANCE_DIR [--listen ADDR]"
inst=$1; shift
listen="0.0.0.0:8443"
while [ $# -gt 0 ]; do
  case "$1" in
    --listen) listen=${2:?}; shift 2 ;;
    *) die "unknown flag '$1': the enclave's serve flags are fixed at build time (build.sh --serve-flag)" ;;
  esac
done
[ -d "$inst/image/models" ] || die "Occlum instance '$inst' not found (run deploy/occlum/build.sh first)"
command -v occlum >/dev/null || die "'occlum' not found"
cd "$inst"
exec occlum run /bin/teelm serve --listen "$listen"
