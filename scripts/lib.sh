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
