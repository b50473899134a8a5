# Sourced by the benchmarks (after cd to the source root).
#
#   release_build TARGET...   build-bench (set up at first use), then the targets
#   free_port                 a TCP port on 127.0.0.1 that nothing listens on now

release_build() {
    [ -d build-bench ] || meson setup build-bench --buildtype=release >/dev/null
    ninja -C build-bench "$@" >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
