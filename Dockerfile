# nfs-health-checkd container image. For hosts whose Airflow runs in containers (Kubernetes
# DaemonSet: packaging/kubernetes/, compose: packaging/compose/); on a plain VM use the systemd unit.
#
# Base images: node:22-slim (Debian, Node 22 LTS; Node 20 is end-of-life). For reproducible
# builds pin the digest as well, e.g. `FROM node:22-slim@sha256:<digest>` (docker buildx
# imagetools inspect node:22-slim), and let Renovate/Dependabot bump it; the digest also fixes the
# Debian package versions installed below, so they are not pinned one by one.

# ---- build: compile TypeScript, then drop dev dependencies -----------------------------------
FROM node:22-slim AS build
WORKDIR /src
# Manifests first: the dependency layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY config ./config
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime ------------------------------------------------------------------------------
FROM node:22-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="nfs-health-checkd" \
      org.opencontainers.image.description="Probes NFS/autofs mounts and unmounts them when stale or hung, in the host's mount namespace" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://github.com/example/nfs-health-checkd" \
      org.opencontainers.image.base.name="docker.io/library/node:22-slim"

# util-linux: nsenter, which runs every recovery command in the host's mount namespace
# (recovery.namespace: host). mount: umount, for recovery.namespace: self (after nsenter the host's
# own umount runs). tini: PID 1 that forwards SIGTERM and reaps children (umount, nsenter).
# Versions come with the pinned base image (DL3008: not pinned one by one).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends util-linux mount tini \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/nfs-health-checkd
# Only what runs: compiled code, production dependencies, package.json (the daemon finds its root
# and version by it) and config/default.yaml (the packaged defaults).
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/config ./config
# The container's config: the defaults plus recovery.namespace: host and logs on stdout only.
# Read because it exists; mount your own over it (ConfigMap, compose bind mount).
COPY packaging/container/config.yaml /etc/nfs-health-checkd/config.yaml
VOLUME /etc/nfs-health-checkd

# Under hostPID (which recovery.namespace: host needs) tini is not PID 1: registered as a
# subreaper it still reaps orphaned children (and does not warn).
ENV NODE_ENV=production \
    TINI_SUBREAPER=1

# Runs as root on purpose: umount needs CAP_SYS_ADMIN, and nsenter into PID 1's mount namespace
# needs CAP_SYS_ADMIN + CAP_SYS_CHROOT and access to /proc/1/ns/mnt. Unmounting is the daemon's job.
# hadolint ignore=DL3002
USER root

EXPOSE 12049
# The daemon stops within ~2 s on SIGTERM, even with a probe blocked in the kernel.
STOPSIGNAL SIGTERM
# /healthz is 200 while the probe loop is alive. No curl in slim images: node's fetch, with its own
# deadline. Assumes metrics.listen on port 12049 (the default), reachable on 127.0.0.1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:12049/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["/usr/bin/tini", "--", "node", "/opt/nfs-health-checkd/dist/src/cli.js"]
