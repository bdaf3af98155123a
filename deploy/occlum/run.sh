#!/usr/bin/env bash
# Starts the confidential server inside the Occlum instance built by build.sh.
# The enclave asks the key broker for the model key (attesting with a DCAP quote), decrypts the
# model in enclave memory and serves HTTPS with an RA-TLS certificate.
#
# usage: deploy/occlum/run.sh INSTANCE_DIR --kbs URL [--listen ADDR] [-- extra teelm serve flags]
set -euo pipefail
die() { echo "occlum run: $*" >&2; exit 1; }
[ $# -ge 1 ] || die "usage: run.sh INSTANCE_DIR --kbs URL [--listen ADDR] [-- flags]"
inst=$1; shift
kbs="" listen="0.0.0.0:8443"
while [ $# -gt 0 ]; do
  case "$1" in
    --kbs) kbs=${2:?}; shift 2 ;;
    --listen) listen=${2:?}; shift 2 ;;
    --) shift; break ;;
    *) die "unknown flag '$1'" ;;
  esac
done
[ -n "$kbs" ] || die "--kbs URL is required (the model owner's key broker)"
[ -d "$inst/image/models" ] || die "Occlum instance '$inst' not found (run deploy/occlum/build.sh first)"
command -v occlum >/dev/null || die "'occlum' not found"
cd "$inst"
exec occlum run /bin/teelm serve --model /models/model --kbs "$kbs" --kbs-ca /etc/teelm/kbs-ca.pem \
  --tee occlum --listen "$listen" "$@"
