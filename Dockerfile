# syntax=docker/dockerfile:1
# shipwatchd and the shipwatch client, built from this repository with Meson.
#   docker build -t shipwatch .
#   docker run -v ./shipwatch.yml:/etc/shipwatch/shipwatch.yml:ro -p 9321:9321 shipwatch
# The compose file at the top runs it with the whole stack (docs/deploying.md).

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      build-essential meson ninja-build pkg-config python3 scdoc \
      libuv1-dev libcurl4-openssl-dev libssl-dev libyaml-dev libjansson-dev \
      libsqlite3-dev libmsgpack-dev libncurses-dev libhiredis-dev libpq-dev \
      libhttp-parser-dev libc-ares-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build --prefix=/usr --sysconfdir=/etc --localstatedir=/var \
      --buildtype=release -Dtests=disabled -Dwerror=false \
 && ninja -C /build \
 && DESTDIR=/out meson install -C /build --quiet --skip-subprojects \
 && rm -rf /out/usr/include /out/usr/lib/*/pkgconfig

FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# Only the shared libraries the two binaries link, the CA bundle for https
# checks, and curl for the health check.
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      libuv1 libcurl4 libssl3 libyaml-0-2 libjansson4 libsqlite3-0 libmsgpackc2 \
      libncursesw6 libhiredis0.14 libpq5 libhttp-parser2.9 libc-ares2 \
      ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 999 shipwatch \
 && useradd --system --uid 999 --gid shipwatch --home-dir /var/lib/shipwatch \
      --shell /usr/sbin/nologin shipwatch \
 && install -d -o shipwatch -g shipwatch -m 0750 /var/lib/shipwatch /run/shipwatch \
 && install -d -m 0755 /etc/shipwatch
COPY --from=build /out/usr/sbin/shipwatchd /usr/sbin/shipwatchd
COPY --from=build /out/usr/bin/shipwatch /usr/bin/shipwatch
COPY --from=build /out/usr/share/man /usr/share/man
COPY --from=build /out/etc/shipwatch/shipwatch.yml /etc/shipwatch/shipwatch.yml

# The same variables systemd sets: the example configuration and the
# client's default socket path both follow them.
ENV STATE_DIRECTORY=/var/lib/shipwatch \
    RUNTIME_DIRECTORY=/run/shipwatch \
    SHIPWATCH_HTTP=0.0.0.0:9321
# The socket lives in /run/shipwatch: a volume, so another container (or
# `docker compose exec shipwatchd shipwatch`) reaches the daemon.
VOLUME ["/var/lib/shipwatch", "/run/shipwatch"]
USER shipwatch
WORKDIR /var/lib/shipwatch
EXPOSE 9321
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS -m 2 http://127.0.0.1:9321/healthz >/dev/null || exit 1
# tini reaps what exec plugins leave behind and forwards SIGTERM.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/sbin/shipwatchd"]
CMD ["--config", "/etc/shipwatch/shipwatch.yml", "--log-format", "json"]
