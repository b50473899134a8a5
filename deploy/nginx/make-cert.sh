#!/bin/sh
# First start: make a self-signed certificate when the nginx-certs volume has
# none. Replace /etc/nginx/certs/tls.crt and tls.key with a real pair (and
# restart nginx) to keep it: this script never overwrites them.
set -eu
dir=/etc/nginx/certs
if [ -s "$dir/tls.crt" ] && [ -s "$dir/tls.key" ]; then
    exit 0
fi
host=${SHIPWATCH_HOSTNAME:-localhost}
mkdir -p "$dir"
umask 077
openssl req -x509 -newkey rsa:2048 -nodes -days 825 \
    -subj "/CN=$host" -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1" \
    -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
chmod 0644 "$dir/tls.crt"
echo "10-shipwatch-cert.sh: made a self-signed certificate for $host in $dir"
