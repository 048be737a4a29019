# syntax=docker/dockerfile:1
# at-worker image. Build:  docker build -t at-worker .
# Run:    docker run --env-file .env at-worker   (or mount a file at /app/.env; see README "Container")

# ---- build: all dependencies, compile TypeScript to dist/ -------------------------------------------
FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the install scripts in the tree are dev-time ones (the `node` package fetching a
# second Node binary, embedded-postgres hydrating its symlinks; this image has Node 24) and the
# project's `prepare`, the build, which needs the sources copied below and runs after them.
RUN npm ci --ignore-scripts
COPY . .
# tsc through the image's node, not `npm run build`: with --ignore-scripts, node_modules/.bin/node
# (the `node` devDependency) is not set up, and npm puts .bin first on the PATH.
RUN mkdir -p bin && node node_modules/typescript/bin/tsc -b tsconfig.json

# ---- runtime: production dependencies and compiled JavaScript only ----------------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/bin ./bin
COPY sql ./sql
# The config loader reads /app/.env when present (after the environment and ./.env, which is the
# same file here since WORKDIR is /app): mount one with `-v $PWD/prod.env:/app/.env:ro`.
# The code stays root-owned and read-only; the process runs as the image's unprivileged `node` user.
USER node
EXPOSE 8080
# docker stop sends SIGTERM: the worker stops claiming, lets in-flight tasks finish for up to
# SHUTDOWN_TIMEOUT (30 s), releases the rest and exits 0. Give it more than that before SIGKILL
# (`docker stop -t 40`, compose `stop_grace_period: 40s`).
STOPSIGNAL SIGTERM
# Liveness on the health listener. HTTP_PORT from the environment if set (a port set only in
# /app/.env is not visible here; keep it at 8080 or set it in the environment). HTTP_PORT=0
# disables the listener, and with it this check: override HEALTHCHECK then.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (no shell in between to swallow it). The
# worker installs its own SIGTERM/SIGINT handlers, which PID 1 needs, and starts no child processes,
# so there are no zombies to reap; `docker run --init` (tini) is fine too but not needed.
# `npm start` is not used: its prestart step runs the TypeScript compiler, which is not installed here.
CMD ["node", "dist/src/infrastructure/main.js", "start"]
