# Sourced by publish-aot.sh and .ci/run. Installs Debian packages only when they are missing, quietly, and
# waits for the dpkg lock instead of failing when another apt-get is running.

# Prints the packages from the arguments that are not installed.
apt_missing() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || printf '%s\n' "$p"
  done
}

# apt_ensure PKG...: installs the missing ones (names may carry an architecture, e.g. libssl3:arm64).
apt_ensure() {
  local missing sudo="" log
  missing=$(apt_missing "$@")
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need these packages and cannot install them without root: $missing" >&2; return 1; }
    sudo="sudo"
  fi
  command -v apt-get >/dev/null || { echo "error: missing packages and no apt-get to install them: $missing" >&2; return 1; }
  if printf '%s\n' $missing | grep -q ':arm64$' && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64
  fi
  echo "installing: $(echo $missing)" >&2
  log=$(mktemp)
  # The lists may be stale or absent on a fresh machine; refresh them once per install.
  if ! { $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq &&
         DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    echo "error: apt-get could not install: $(echo $missing)" >&2
    return 1
  fi
  rm -f "$log"
}
