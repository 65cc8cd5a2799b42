# syntax=docker/dockerfile:1
# Consent Gate: a two-stage image (README: Docker). Build: `docker build -t consent-gate .`
# test/operator-kit.e2e-spec.ts checks what can be checked without a Docker engine: the
# HEALTHCHECK answers on a running service, the runtime user is not root, VOLUME is DATA_DIR,
# the CMD file is what `npm run build` makes, every ENV is a configuration variable.

# Build: every dependency, compile, then drop the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm install, not npm ci: the lock file lacks other platforms' optional binaries, which npm ci
# rejects (see the README's notes on dependencies); the versions are still the lock file's.
RUN npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ormconfig.ts ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime: the compiled service and its production dependencies, as the unprivileged `node` user.
FROM node:20-bookworm-slim
WORKDIR /app
# The embedded PostgreSQL's files, its lock and the bootstrap admin key's file live in DATA_DIR
# (with DATABASE_URL only the key file): a volume, owned by the runtime user.
ENV DATA_DIR=/data
RUN mkdir -p /data && chown node:node /data
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
VOLUME ["/data"]
EXPOSE 3000
# The image has no curl: the probe is node's fetch on the liveness path (no database involved).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/live').then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop): graceful shutdown within SHUTDOWN_TIMEOUT_MS (10 s by default), so give
# `docker stop` a longer timeout (`-t 15`; compose.yaml sets stop_grace_period).
STOPSIGNAL SIGTERM
CMD ["node", "--max-old-space-size=512", "--max-semi-space-size=32", "dist/src/main.js"]
