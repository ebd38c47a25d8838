# gradline's server in a container: docs/DEPLOY.md.
#   docker build -t gradline .
#   docker run -p 8080:8080 -v gradline-data:/data -e GRADLINE_TOKENS=a-token-of-16-chars-or-more gradline
# Without a token the server listens on loopback only, which a container's port
# mapping cannot reach: give it one (or several, comma-separated, or GRADLINE_TOKENS_FILE).

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# the dev tools build the kernels and the TypeScript; install scripts are not needed for that
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    GRADLINE_HOST=0.0.0.0 \
    GRADLINE_PORT=8080 \
    GRADLINE_DATA=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/host ./dist/host
COPY --from=build /app/dashboard ./dashboard
COPY --from=build /app/build/gradline.wasm ./build/gradline.wasm
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.GRADLINE_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM (docker stop) shuts down gracefully: accepted work finished, last checkpoint
# round written; give it time with docker stop --time (the default 10 s may be short)
STOPSIGNAL SIGTERM
CMD ["node", "dist/host/cli.js", "serve"]
