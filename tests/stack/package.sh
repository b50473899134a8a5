#!/bin/sh
# Build the Debian package from a copy of the tree (dpkg-buildpackage writes
# beside the source directory), run lintian on it, and print the .deb's path
# on the last line. Installs debhelper and lintian when missing.
#   sh tests/stack/package.sh OUTDIR
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: package.sh OUTDIR}
need=""
for p in debhelper lintian dpkg-dev; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need="$need $p"
done
if [ -n "$need" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $need
fi
version=$(sed -n '1s/^shipwatch (\([^)]*\)).*/\1/p' "$root/debian/changelog")
rm -rf "$out"
mkdir -p "$out/src"
# The tracked files only: no build trees, no local state.
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$root" && xargs -0 tar -cf - --no-recursion) | tar -C "$out/src" -xf -
cd "$out/src"
dpkg-checkbuilddeps
dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1 || { tail -40 "$out/build.log" >&2; exit 1; }
deb="$out/shipwatch_${version}_$(dpkg --print-architecture).deb"
test -f "$deb"
lintian --no-tag-display-limit "$deb" >"$out/lintian.txt" 2>&1 || true
cat "$out/lintian.txt"
if grep -q '^E: ' "$out/lintian.txt"; then
    echo "lintian: errors" >&2
    exit 1
fi
echo "$deb"
