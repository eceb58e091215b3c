#!/bin/sh
# nginx for docker-compose.yml: serves the certificate the certctl agent deploys into the
# shared volume mounted on /etc/nginx/certs, and reloads when the agent replaces it.
#
# The agent runs in another container and cannot signal this nginx, so the NGINX target in
# docs/getting-started/quickstart.md uses no-op validate/reload commands and this loop does
# both: when the files change it checks the configuration with `nginx -t` and reloads. Files
# that fail the check (e.g. between the agent's certificate and key writes) are not loaded:
# nginx keeps serving the previous pair until the next change passes. Until a first
# certificate arrives only the plain HTTP server on port 80 runs.
set -u

CERT_DIR=${CERT_DIR:-/etc/nginx/certs}
TLS_TEMPLATE=${TLS_TEMPLATE:-/etc/certctl-nginx/tls.conf}
TLS_CONF=${TLS_CONF:-/etc/nginx/conf.d/certctl-tls.conf}
INTERVAL=${INTERVAL:-5}
# Extra nginx options (e.g. `-c conf -p prefix` for a private instance in tests); word-split on purpose.
NGINX_ARGS=${NGINX_ARGS:-}

ngx() {
  # shellcheck disable=SC2086
  nginx $NGINX_ARGS "$@"
}

files_stamp() { cat "$CERT_DIR/tls.crt" "$CERT_DIR/tls.key" 2>/dev/null | cksum; }
have_files() { [ -s "$CERT_DIR/tls.crt" ] && [ -s "$CERT_DIR/tls.key" ]; }

# Enables the TLS server when the files exist and pass `nginx -t`; leaves it off otherwise,
# so nginx never holds a configuration it cannot load.
configure() {
  have_files || { rm -f "$TLS_CONF"; return 1; }
  cp "$TLS_TEMPLATE" "$TLS_CONF"
  if ngx -t -q; then return 0; fi
  rm -f "$TLS_CONF"
  return 1
}

applied=none
if configure; then applied=$(files_stamp); fi

# Started directly, not through ngx(): a function run with & becomes a subshell, and $! must
# be nginx itself for the signal below to reach it.
# shellcheck disable=SC2086
nginx $NGINX_ARGS -g 'daemon off;' &
nginx_pid=$!
# docker stop sends SIGTERM: stop nginx gracefully (QUIT) and exit with it.
trap 'kill -QUIT "$nginx_pid" 2>/dev/null' TERM INT

rejected=none
while kill -0 "$nginx_pid" 2>/dev/null; do
  sleep "$INTERVAL" &
  wait $! 2>/dev/null
  current=$(files_stamp)
  have_files && [ "$current" != "$applied" ] && [ "$current" != "$rejected" ] || continue
  if configure && ngx -s reload; then
    applied=$current
    echo "certctl-nginx: reloaded with the new certificate"
  else
    # Reported once per set of files; the next change is checked again.
    rejected=$current
    echo "certctl-nginx: the new files fail the configuration check; still serving the previous certificate" >&2
  fi
done
wait "$nginx_pid"
