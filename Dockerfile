# syntax=docker/dockerfile:1

# certctl server image.
#
#   docker build -t certctl-server .
#   docker run -p 8443:8443 \
#     -e CERTCTL_DATABASE_URL=postgres://user:pass@db:5432/certctl \
#     -e CERTCTL_REDIS_URL=redis://redis:6379 \
#     -v certctl-data:/var/lib/certctl certctl-server
#
# The server speaks HTTPS only. Without CERTCTL_SERVER_TLS_CERT_PATH/_KEY_PATH it generates
# a self-signed CA and server certificate once into /var/lib/certctl/tls (keep that path on a
# volume). See docs/configuration.md for every variable.

# ---- build ---------------------------------------------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src

# Dependencies first so this layer is cached until the manifests change.
# `npm install`, not `npm ci`: `npm ci` rejects this repository's lockfile.
COPY package.json package-lock.json ./
RUN npm install --no-audit --no-fund

COPY nest-cli.json tsconfig.json ./
COPY apps ./apps
COPY libs ./libs
COPY migrations ./migrations
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# ---- runtime -------------------------------------------------------------------------------
FROM node:20-bookworm-slim

ENV NODE_ENV=production

# Unprivileged user; the data directory is the only path it writes to.
RUN groupadd --system --gid 10001 certctl \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin certctl \
 && mkdir -p /var/lib/certctl \
 && chown 10001:10001 /var/lib/certctl \
 && chmod 0700 /var/lib/certctl

WORKDIR /app
# package.json is read at runtime for the version reported by /api/v1/version.
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist

ENV CERTCTL_SERVER_HOST=0.0.0.0 \
    CERTCTL_DATA_DIR=/var/lib/certctl

USER 10001:10001
EXPOSE 8443

# Liveness over HTTPS. The slim image has no curl; node's https module does the request.
# rejectUnauthorized is off because the certificate may be the self-signed one.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const r=require('https').get({host:'127.0.0.1',port:process.env.CERTCTL_SERVER_PORT||8443,path:'/health',rejectUnauthorized:false,timeout:4000},(s)=>{s.resume();process.exit(s.statusCode===200?0:1)});r.on('timeout',()=>r.destroy(new Error('timeout')));r.on('error',()=>process.exit(1))"]

CMD ["node", "dist/apps/server/apps/server/src/main.js"]
