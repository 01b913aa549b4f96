# Shared by the project's scripts: install the Debian packages that provide missing commands.
# Usage: ensure_commands cmd[:package] ...
ensure_commands() {
  local need=() spec cmd pkg
  for spec in "$@"; do
    cmd="${spec%%:*}"
    pkg="${spec#*:}"
    command -v "$cmd" >/dev/null 2>&1 || need+=("$pkg")
  done
  [ "${#need[@]}" -eq 0 ] && return 0
  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}"
}

# Prints two Secrets in namespace default: a client CA Secret (key ca.crt) and a
# kubernetes.io/tls server certificate Secret.
# Usage: secrets_yaml CA_SECRET CA_PEM TLS_SECRET CERT_PEM KEY_PEM
secrets_yaml() {
  cat <<YAML
apiVersion: v1
kind: Secret
metadata: {name: $1, namespace: default}
type: Opaque
data:
  ca.crt: $(base64 -w0 "$2")
---
apiVersion: v1
kind: Secret
metadata: {name: $3, namespace: default}
type: kubernetes.io/tls
data:
  tls.crt: $(base64 -w0 "$4")
  tls.key: $(base64 -w0 "$5")
YAML
}
