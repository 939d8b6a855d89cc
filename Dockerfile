# fleetgate for docker-compose.yml: QuestDB runs in its own container, so no JDK here.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY . .
ENV DATA_DIR=/data MQTT_HOST=0.0.0.0 HTTP_HOST=0.0.0.0
EXPOSE 1883 8083 3000
CMD ["node", "--max-semi-space-size=64", "bin/fleetgate.js", "start"]
