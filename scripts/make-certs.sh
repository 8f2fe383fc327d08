#!/usr/bin/env bash
# Make a private CA and one server certificate for Mosquitto (8883) and Caddy (HTTPS).
# Usage: make-certs.sh DIR [NAME...]   NAMEs are extra DNS names or IP addresses the
# server is reached by (localhost, 127.0.0.1, mosquitto and caddy are always included).
# An existing CA is kept, so clients that trust it keep working; the server cert is renewed.
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR [NAME...]}
shift
mkdir -p "$dir"
cd "$dir"
days=${CERT_DAYS:-825}
umask 077
if [ ! -f ca.key ] || [ ! -f ca.crt ]; then
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days 3650 \
    -keyout ca.key -out ca.crt -subj "/CN=Health Plus local CA" 2>/dev/null
fi
san="DNS:localhost,DNS:mosquitto,DNS:caddy,IP:127.0.0.1"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
done
openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr \
  -subj "/CN=${1:-localhost}" 2>/dev/null
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' "$san" > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
  -days "$days" -extfile server.ext -out server.crt 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 644 ca.crt server.crt
echo "CA $dir/ca.crt (give it to clients); server certificate for $san"
