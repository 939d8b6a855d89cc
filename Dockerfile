# fleetgate for docker-compose.yml: QuestDB runs in its own container, so no JDK here.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY . .
# the base image's unprivileged `node` user (uid 1000) runs fleetgate; a new
# named volume at /data takes this directory's owner
RUN mkdir -p /data && chown node:node /data
ENV DATA_DIR=/data MQTT_HOST=0.0.0.0 HTTP_HOST=0.0.0.0
USER node
EXPOSE 1883 8083 3000
# /readyz: QuestDB reachable and the broker up. node is the one HTTP client in
# this image (no curl); https when the api serves TLS (its certificate may be
# self-signed, so it is not verified here).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const u = (process.env.TLS_CERT_FILE ? 'https' : 'http') + '://127.0.0.1:' + (process.env.HTTP_PORT || 3000) + '/readyz'; require(u.slice(0, u.indexOf(':'))).get(u, { rejectUnauthorized: false, timeout: 4000 }, r => process.exit(r.statusCode === 200 ? 0 : 1)).on('error', () => process.exit(1)).on('timeout', () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=64", "bin/fleetgate.js", "start"]
