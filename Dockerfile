# syntax=docker/dockerfile:1

# certctl images: one build, three runtime targets sharing every layer but the last.
#
#   docker build -t certctl-server .                  (the default, last stage)
#   docker build -t certctl-agent  --target agent .
#   docker build -t certctl-mcp    --target mcp .
#
#   docker run -p 8443:8443 \
#     -e CERTCTL_DATABASE_URL=postgres://user:pass@db:5432/certctl \
#     -e CERTCTL_REDIS_URL=redis://redis:6379 \
#     -v certctl-data:/var/lib/certctl certctl-server
#
# The server speaks HTTPS only. Without CERTCTL_SERVER_TLS_CERT_PATH/_KEY_PATH it generates
# a self-signed CA and server certificate once into /var/lib/certctl/tls, and without
# CERTCTL_CONFIG_ENCRYPTION_KEY a key file in /var/lib/certctl: keep that path on a volume
# (single node only; set CERTCTL_CONFIG_ENCRYPTION_KEY on every replica in production).
# It applies pending database migrations at boot (under a lock, so replicas may start
# together). No secret is baked into any image: everything comes from the environment or
# mounted files. See docs/configuration.md for every variable.

# ---- build ---------------------------------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src

# Dependencies first so this layer is cached until the manifests change.
# `npm install`, not `npm ci`: `npm ci` rejects this repository's lockfile (it lacks other
# platforms' optional @swc/core binaries).
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund

COPY nest-cli.json tsconfig.json ./
COPY apps ./apps
COPY libs ./libs
COPY migrations ./migrations
# The MCP app compiles the OpenAPI document into its build (its tools follow the served API).
COPY docs/openapi.json ./docs/openapi.json
# Build every app, then drop the dev dependencies (compilers, test tools) from node_modules.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime base --------------------------------------------------------------------------
FROM node:20-bookworm-slim AS runtime

ENV NODE_ENV=production

# tini as PID 1 forwards SIGTERM/SIGINT to node (both apps drain on SIGTERM) and reaps the
# grandchildren of commands the agent runs (validate/reload), which node would leave as zombies.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# Unprivileged user 10001 (no login, no home). /var/lib/certctl holds the server's data
# (TLS files, key file) or the agent's key directory, mode 0700. /srv/certctl is where an
# agent writes certificates for a sidecar on a shared volume (see docker-compose.yml);
# a named volume mounted on either path starts with this owner.
RUN groupadd --system --gid 10001 certctl \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin certctl \
 && mkdir -p /var/lib/certctl /srv/certctl \
 && chown 10001:10001 /var/lib/certctl /srv/certctl \
 && chmod 0700 /var/lib/certctl \
 && chmod 0755 /srv/certctl

WORKDIR /app
# package.json is read at runtime for the version the apps report.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist

USER 10001:10001
ENTRYPOINT ["/usr/bin/tini", "--"]

# ---- agent ---------------------------------------------------------------------------------
# Needs CERTCTL_SERVER_URL, CERTCTL_SERVER_CA_BUNDLE_PATH (for a private server CA) and an
# identity (docs/agent.md). Keys live in CERTCTL_KEY_DIR (default /var/lib/certctl/keys):
# mount a volume on /var/lib/certctl so they survive restarts.
FROM runtime AS agent
HEALTHCHECK NONE
CMD ["node", "dist/apps/agent/apps/agent/src/main.js"]

# ---- mcp -----------------------------------------------------------------------------------
# Model Context Protocol server on stdio: `docker run -i --rm -e CERTCTL_SERVER_URL=... certctl-mcp`.
FROM runtime AS mcp
HEALTHCHECK NONE
CMD ["node", "dist/apps/mcp/apps/mcp/src/main.js"]

# ---- server (default target) ---------------------------------------------------------------
FROM runtime AS server

ENV CERTCTL_SERVER_HOST=0.0.0.0 \
    CERTCTL_DATA_DIR=/var/lib/certctl

EXPOSE 8443

# Liveness over HTTPS. The slim image has no curl; node's https module does the request.
# rejectUnauthorized is off because the certificate may be the self-signed one.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const r=require('https').get({host:'127.0.0.1',port:process.env.CERTCTL_SERVER_PORT||8443,path:'/health',rejectUnauthorized:false,timeout:4000},(s)=>{s.resume();process.exit(s.statusCode===200?0:1)});r.on('timeout',()=>r.destroy(new Error('timeout')));r.on('error',()=>process.exit(1))"]

CMD ["node", "dist/apps/server/apps/server/src/main.js"]
