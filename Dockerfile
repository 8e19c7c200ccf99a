# The gateway runs TypeScript directly on Node 24 (type stripping); no build step.
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
ENV NODE_ENV=production PORT=8080
EXPOSE 8080
CMD ["node", "src/main.ts"]
