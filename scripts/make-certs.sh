#!/usr/bin/env bash
# Make a private CA and one server certificate for Mosquitto (8883) and Caddy (HTTPS).
# Usage: make-certs.sh DIR [NAME...]   NAMEs are extra DNS names or IP addresses the
# server is reached by (localhost, 127.0.0.1, mosquitto and caddy are always included).
#
# The CA is what clients are told to trust, so it is kept as narrow as a CA can be: it may
# sign only server certificates directly (pathlen:0), only for the deployment's own names
# (name constraints: a DNS name also covers its subdomains), and it lives CA_DAYS (1825).
# Strict verifiers (Python 3.13, browsers) also want key usage on both certificates.
# An existing CA is kept, so clients that trust it keep working, unless it lacks those
# constraints, does not cover a name asked for, or expires before the new server
# certificate would: then a new CA is made and the script says so (give clients the new
# ca.crt). The server certificate is renewed on every run.
set -euo pipefail
dir=${1:?usage: make-certs.sh DIR [NAME...]}
shift
mkdir -p "$dir"
cd "$dir"
days=${CERT_DAYS:-825}
ca_days=${CA_DAYS:-1825}
umask 077

san="DNS:localhost,DNS:mosquitto,DNS:caddy,IP:127.0.0.1"
permitted="permitted;DNS:localhost,permitted;DNS:mosquitto,permitted;DNS:caddy"
permitted+=",permitted;IP:127.0.0.1/255.255.255.255"
full_v6="ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ ]]; then
    san+=",IP:$name"
    permitted+=",permitted;IP:$name/255.255.255.255"
  elif [[ $name == *:* ]]; then
    san+=",IP:$name"
    permitted+=",permitted;IP:$name/$full_v6"
  else
    san+=",DNS:$name"
    permitted+=",permitted;DNS:$name"
  fi
done

# Why an existing CA cannot be kept, or nothing when it can.
ca_unfit() {
  [ -f ca.key ] && [ -f ca.crt ] || { echo "no CA yet"; return; }
  local text
  text=$(openssl x509 -in ca.crt -noout -text)
  grep -q "Certificate Sign" <<<"$text" || { echo "the CA has no key usage"; return; }
  grep -q "X509v3 Name Constraints: critical" <<<"$text" || {
    echo "the CA has no name constraints"
    return
  }
  openssl x509 -in ca.crt -noout -checkend $((days * 86400)) >/dev/null || {
    echo "the CA expires within $days days"
    return
  }
  local name
  for name in ${san//,/ }; do
    grep -qxF "$name" ca.names 2>/dev/null || { echo "the CA does not cover $name"; return; }
  done
}

reason=$(ca_unfit)
if [ -n "$reason" ]; then
  [ -f ca.crt ] && echo "making a new CA: $reason; give clients the new $dir/ca.crt" >&2
  cat >ca.cnf <<EOF
[req]
distinguished_name = dn
x509_extensions = ca_ext
prompt = no
[dn]
CN = Health Plus local CA
[ca_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,$permitted
EOF
  openssl req -x509 -newkey rsa:3072 -nodes -sha256 -days "$ca_days" -config ca.cnf \
    -keyout ca.key -out ca.crt 2>/dev/null
  tr ',' '\n' <<<"$san" >ca.names
  rm -f ca.cnf
fi

openssl req -newkey rsa:2048 -nodes -sha256 -keyout server.key -out server.csr \
  -subj "/CN=${1:-localhost}" 2>/dev/null
cat >server.ext <<EOF
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
EOF
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
  -days "$days" -extfile server.ext -out server.crt 2>/dev/null
rm -f server.csr server.ext ca.srl
chmod 644 ca.crt server.crt ca.names
echo "CA $dir/ca.crt (give it to clients); server certificate for $san"
