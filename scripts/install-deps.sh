#!/usr/bin/env bash
# Installs what teelm needs, skipping whatever is already present (idempotent):
#   scripts/install-deps.sh          build tools and the libraries teelm links: enough to build it and
#                                    run it (what `make demo` uses)
#   scripts/install-deps.sh --test   that, plus the test references and tools: PyTorch, numpy and
#                                    cryptography (independent references), node/npm and the npm
#                                    packages pinned in package-lock.json (tiktoken, @huggingface/*,
#                                    openai, node-llama-cpp = llama.cpp prebuilt), clang + libFuzzer, shellcheck, nginx, wrk, jq, curl
#                                    (what `make test` and CI use)
set -euo pipefail
cd "$(dirname "$0")/.."

test_deps=0
for a in "$@"; do
  case "$a" in
    --test) test_deps=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "install-deps: unknown argument '$a' (usage: scripts/install-deps.sh [--test])" >&2; exit 2 ;;
  esac
done

PKGS=(
  build-essential cmake pkg-config            # toolchain (gcc brings OpenMP's libgomp)
  libssl-dev                                  # OpenSSL 3: AES-GCM, ECDH/HKDF, X.509, CRLs, TLS
  libevent-dev                                # evhttp + bufferevent_openssl: HTTPS servers
  libcurl4-openssl-dev                        # HTTPS client (KBS, PCCS), OpenSSL flavour
  libjansson-dev                              # strict JSON
  libpcre2-dev                                # tiktoken pre-tokenizer regexes (JIT)
  libicu-dev                                  # Unicode normalization (NFC/NFD/NFKC/NFKD) for tokenizer.json normalizers
  libzip-dev                                  # PyTorch .pth archives
  ca-certificates                             # HTTPS to a key broker or PCCS with a public certificate
)
TEST_PKGS=(
  python3 python3-torch python3-numpy         # independent reference for the model math
  libopenblas0-pthread                        # BLAS behind Debian's torch (BLAS_INFO=generic): without it the
                                              # netlib reference BLAS runs its matmuls ~20x slower (train500: hours)
  python3-cryptography                        # independent reader of sealed files (tests/reference/sealed_ref.py)
  nodejs npm                                  # npm references: tiktoken, @huggingface/tokenizers and jinja, openai
  clang libclang-rt-14-dev                    # libFuzzer targets
  shellcheck nginx-light libnginx-mod-stream wrk jq xxd curl   # stream: scale-out test; wrk: bench/
)
[ "$test_deps" = 1 ] && PKGS+=("${TEST_PKGS[@]}")

missing=()
for p in "${PKGS[@]}"; do
  # nodejs/npm may come from elsewhere (a node already on PATH is good enough)
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: Debian packages present ($([ "$test_deps" = 1 ] && echo "build, run and test" || echo "build and run; --test adds the test references"))"
fi

# npm reference packages, pinned in package.json/package-lock.json; node_modules is not committed.
# node-llama-cpp ships llama.cpp prebuilt for this platform in its optional @node-llama-cpp/* packages;
# its postinstall must never try to download or build llama.cpp (no network beyond the registry).
export NODE_LLAMA_CPP_SKIP_DOWNLOAD=true
if [ "$test_deps" = 1 ] && [ -f package.json ]; then
  # every package pinned in package.json must be installed (a new pin triggers npm ci)
  need_npm=0
  for dep in $(node -e 'console.log(Object.keys(require("./package.json").dependencies).join(" "))'); do
    [ -f "node_modules/$dep/package.json" ] || need_npm=1
  done
  if [ "$need_npm" = 1 ]; then
    echo "install-deps: npm ci (reference packages pinned in package-lock.json)"
    npm ci --no-audit --no-fund --loglevel=error
  else
    echo "install-deps: npm packages present"
  fi
fi
