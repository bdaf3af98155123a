# The production Occlum.json, from the one `occlum new` writes ($l: `teelm occlum-config --json`).
# The enclave runs exactly one measured command (docs/deploy-occlum.md, "What the host controls"):
#   - entry_points: /bin/teelm alone;
#   - env.default (measured) sets TEELM_ENCLAVE_CONFIG, which makes teelm run only the serve
#     command of /etc/teelm/serve.json in the image; env.untrusted is empty (the host sets nothing);
#   - no hostfs mount (Occlum's template mounts the host's instance directory at /host).
.resource_limits = ((.resource_limits // {}) + $l.resource_limits) |
.process = ((.process // {}) + $l.process) |
.metadata = ((.metadata // {}) + $l.metadata) |
.entry_points = ["/bin/teelm"] |
.env = {
  default: ["OCCLUM=yes", "TEELM_ENCLAVE_CONFIG=/etc/teelm/serve.json", "OMP_NUM_THREADS=\($l.omp_threads)",
            "OMP_STACKSIZE=\($l.thread_stack_size)", "MALLOC_ARENA_MAX=2"],
  untrusted: []
} |
.mount = [(.mount // [])[] | select(.type != "hostfs")]
