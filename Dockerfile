# latchkey in a container. Two stages: `build` installs every dependency and compiles the server
# and its browser pages; `runtime` installs the production dependencies only, takes the compiled
# output, and runs as the unprivileged `node` user with NODE_ENV=production.
#
# scripts/container-recipe.sh performs these same steps, in this order, as plain commands on a
# clean checkout (CI runs it: .ci/run); change both together. README, "Containers".
#
#   docker build -t latchkey .
#   docker compose up        (compose.yaml: latchkey, MariaDB and Redis)

ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
# The manifests first, so that a change to the sources reuses the installed dependencies.
COPY package.json package-lock.json ./
COPY packages/verifier/package.json packages/verifier/
COPY packages/client/package.json packages/client/
# Compiling needs no native module, so no install script runs here (better-sqlite3 is built or
# downloaded in the runtime stage, for the runtime's Node).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN node scripts/build-if-needed.mjs --force

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/app/data \
    SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/verifier/package.json packages/verifier/
COPY packages/client/package.json packages/client/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist dist/
COPY --from=build /src/packages/verifier/dist packages/verifier/dist/
COPY scripts/healthcheck.js ./
# DATA_DIR: the SQLite database when DATABASE_URL is unset, and the development outbox. latchkey
# refuses files there that others can read, so the directory is the node user's alone.
RUN mkdir -p /app/data && chown node:node /app/data && chmod 700 /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 CMD ["node", "healthcheck.js"]
# Node as PID 1 handles SIGTERM itself: latchkey finishes what is in flight, flushes traces and exits 0.
CMD ["node", "dist/src/main.js"]
