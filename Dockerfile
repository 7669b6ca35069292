# nfs-health-checkd container image. For hosts whose Airflow runs in containers (Kubernetes
# DaemonSet: packaging/kubernetes/, compose: packaging/compose/); on a plain VM use the systemd unit.
#
# Base images: node:24-slim (Debian, Node 24 LTS: the major the .deb and .rpm ship). A Node.js
# security release reaches the image as a base-image bump. For reproducible builds pin the digest
# as well, e.g. `FROM node:24-slim@sha256:<digest>` (docker buildx imagetools inspect
# node:24-slim), and let Renovate/Dependabot bump it; the digest also fixes the Debian package
# versions installed below, so they are not pinned one by one.

# ---- build: compile TypeScript, then bundle it as the packages do (packaging/release) ---------
FROM node:24-slim AS build
WORKDIR /src
# Manifests first: the dependency layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY config ./config
COPY packaging/release/bundle.ts ./packaging/release/
# The same bundle as the packages' usr/lib/nfs-health-checkd/: app/cli.js, app/scan-worker.js and
# app/bcrypt-worker.js with every dependency inside, package.json and config/default.yaml. No node_modules to ship.
RUN npm run build \
 && node dist/packaging/release/bundle.js /out /out/THIRD-PARTY-NOTICES

# ---- runtime ------------------------------------------------------------------------------
FROM node:24-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="nfs-health-checkd" \
      org.opencontainers.image.description="Probes NFS/autofs mounts and unmounts them when stale or hung, in the host's mount namespace" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/example/nfs-health-checkd" \
      org.opencontainers.image.base.name="docker.io/library/node:24-slim"

# util-linux: nsenter, which runs every recovery command in the host's mount namespace
# (recovery.namespace: host). mount: umount, for recovery.namespace: self (after nsenter the host's
# own umount runs). tini: PID 1 that forwards SIGTERM and reaps children (umount, nsenter).
# Versions come with the pinned base image (DL3008: not pinned one by one).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux mount tini \
 && rm -rf /var/lib/apt/lists/*

# Where the packages put it. Only what runs: the bundle, package.json (the daemon finds its root
# and version by it), config/default.yaml (the packaged defaults), and the bundled licences.
WORKDIR /usr/lib/nfs-health-checkd
COPY --from=build /out ./
# The container's config: the defaults plus recovery.namespace: host and logs on stdout only.
# Read because it exists; mount your own over it (ConfigMap, compose bind mount).
COPY packaging/container/config.yaml /etc/nfs-health-checkd/config.yaml
VOLUME /etc/nfs-health-checkd

# Under hostPID (which recovery.namespace: host needs) tini is not PID 1: registered as a
# subreaper it still reaps orphaned children (and does not warn). MALLOC_ARENA_MAX=1, as the
# packages' launcher sets it: one malloc arena for every thread, ~1 MB less resident.
ENV NODE_ENV=production \
    TINI_SUBREAPER=1 \
    MALLOC_ARENA_MAX=1

# Runs as root on purpose: umount needs CAP_SYS_ADMIN, and nsenter into PID 1's mount namespace
# needs CAP_SYS_ADMIN + CAP_SYS_CHROOT and access to /proc/1/ns/mnt. Unmounting is the daemon's job.
# hadolint ignore=DL3002
USER root

EXPOSE 12049
# The daemon stops within ~2 s on SIGTERM, even with a probe blocked in the kernel.
STOPSIGNAL SIGTERM
# /healthz is 200 while the probe loop is alive. No curl in slim images: node's fetch, with its own
# deadline. Assumes metrics.listen on port 12049 (the default), reachable on 127.0.0.1, in plain
# HTTP. With metrics.web_config_file (docs/observability.md, "TLS and authentication") change it to
# match: TLS → https:// and ENV NODE_EXTRA_CA_CERTS=<the CA of cert_file> (whose certificate must
# then name 127.0.0.1); basic_auth_users → fetch(url, {headers: {Authorization: 'Basic ' +
# btoa('user:password')}, …}); a required client certificate → fetch cannot present one: use
# node:https's get with cert and key, or HEALTHCHECK NONE.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:12049/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# The packages' launcher's flags: --lite-mode (V8 without its optimizing compilers: ~9 MB less
# resident for a daemon that runs little code, and rarely) and --no-node-snapshot (the probe
# thread built without Node's startup snapshot: ~8 MB less).
ENTRYPOINT ["/usr/bin/tini", "--", "node", "--lite-mode", "--no-node-snapshot", "/usr/lib/nfs-health-checkd/app/cli.js"]
