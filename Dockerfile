# AOS gateway container: build with the full toolchain, run on a slim Node 24 LTS as a non-root user
# (the test command also runs a smoke subset of the tests on Node 24: scripts/node24-smoke.sh).
#   docker build -t aos-gateway .
#   docker run -p 8080:8080 -p 9090:9090 -e OPENAI_API_KEY -e ANTHROPIC_API_KEY aos-gateway

FROM node:24-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY examples ./examples
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    AOS_LISTEN_HOST=0.0.0.0 \
    AOS_ADMIN_HOST=0.0.0.0 \
    AOS_DATA_DIR=/var/lib/aos
WORKDIR /app
RUN mkdir -p /var/lib/aos && chown node:node /var/lib/aos
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The web console: its sources and the bundle `aos control` serves (src/console/built, committed)
COPY --from=build /app/src/console ./src/console
COPY package.json ./
COPY config ./config
COPY policies ./policies
USER node
EXPOSE 8080 9090
VOLUME ["/var/lib/aos"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.AOS_ADMIN_PORT||9090)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["start"]
