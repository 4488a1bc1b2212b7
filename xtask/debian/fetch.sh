#!/usr/bin/env bash
# Fetches what the differential tests and the testbed need from Debian's archive:
#  - the host's kmod 30 (the oracle), installed with the machine's own apt (package only,
#    its configuration untouched);
#  - the newest Debian 6.1 and 6.12 amd64 kernel packages, downloaded with a PRIVATE apt
#    configuration and cache (../shared/spec/testbed.md §3) and unpacked, never installed.
#  - with --testbed: also QEMU on the host, and busybox-static and kmod 30 from bookworm,
#    downloaded and unpacked like the kernels (the testbed's initramfs userspace).
# Usage: fetch.sh CACHE_DIR [--testbed]
# Prints one line per tree: "<label> <version> <root> <deb>"; with --testbed, then one line
# per userspace package: "pkg <name> <root> <deb>".
# A second run downloads nothing: the .debs and the unpacked trees are kept in CACHE_DIR.
set -euo pipefail
CACHE=${1:?usage: fetch.sh CACHE_DIR [--testbed]}
TESTBED=${2:-}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)

log() { printf 'fetch: %s\n' "$*" >&2; }

ensure_host_tools() {
  local missing=()
  command -v depmod >/dev/null 2>&1 || [ -x /sbin/depmod ] || missing+=(kmod)
  command -v xz >/dev/null 2>&1 || missing+=(xz-utils)
  command -v zstd >/dev/null 2>&1 || missing+=(zstd)
  command -v cpio >/dev/null 2>&1 || missing+=(cpio)
  command -v dpkg-deb >/dev/null 2>&1 || missing+=(dpkg)
  [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
  # The sweep plots' text (modkit sim sweep draws it with DejaVu Sans).
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
  if [ "$TESTBED" = --testbed ]; then
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
    command -v gzip >/dev/null 2>&1 || missing+=(gzip)
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing host packages: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
}

private_apt() {
  mkdir -p "$CACHE"/apt/{lists/partial,cache/archives/partial,sources.list.d,preferences.d} "$CACHE/debs"
  local K=/usr/share/keyrings/debian-archive-keyring.gpg
  cat > "$CACHE/apt/sources.list" <<SRC
deb [signed-by=$K] http://deb.debian.org/debian bookworm main
deb [signed-by=$K] http://deb.debian.org/debian-security bookworm-security main
deb [signed-by=$K] http://deb.debian.org/debian bookworm-backports main
deb [signed-by=$K] http://deb.debian.org/debian trixie main
deb [signed-by=$K] http://deb.debian.org/debian-security trixie-security main
SRC
  APT_OPTS=(-o "Dir::Etc::SourceList=$CACHE/apt/sources.list"
    -o "Dir::Etc::SourceParts=$CACHE/apt/sources.list.d"
    -o "Dir::State::Lists=$CACHE/apt/lists" -o "Dir::Cache=$CACHE/apt/cache"
    -o "Dir::Etc::Preferences=/dev/null" -o "Dir::Etc::PreferencesParts=$CACHE/apt/preferences.d"
    -o "APT::Architectures=amd64" -o "APT::Sandbox::User=root")
  # Refresh the lists at most once a day; the selection below then stays stable.
  local stamp="$CACHE/apt/updated"
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
    log "updating the private package lists"
    apt-get "${APT_OPTS[@]}" -qq update >&2
    touch "$stamp"
  fi
}

# newest package name matching an extended regex, by sort -V
newest() {
  apt-cache "${APT_OPTS[@]}" pkgnames linux-image- | grep -E "$1" | sort -V | tail -n 1
}

# download (once) and unpack (once) a package; prints the unpack root
unpack() {
  local pkg=$1 suite=${2:-}
  local root="$CACHE/roots/$pkg"
  if [ -f "$root/.done" ]; then echo "$root"; return; fi
  ( cd "$CACHE/debs"
    ls "${pkg}"_[0-9]*.deb >/dev/null 2>&1 || { log "downloading $pkg"; apt-get "${APT_OPTS[@]}" -qq download "$pkg${suite:+/$suite}" >&2; } )
  local deb; deb=$(ls "$CACHE/debs/${pkg}"_[0-9]*.deb | sort -V | tail -n 1)
  rm -rf "$root"; mkdir -p "$root"
  dpkg-deb -x "$deb" "$root"
  basename "$deb" > "$root/.deb"
  touch "$root/.done"
  echo "$root"
}

ensure_host_tools
private_apt
p61=$(newest '^linux-image-6\.1\.0-[0-9]+-amd64$')
p612=$(newest '^linux-image-6\.12\.[0-9]+\+deb13-amd64$')
[ -n "$p61" ] && [ -n "$p612" ] || { log "no 6.1 or 6.12 kernel package found"; exit 1; }
for pkg in "$p61" "$p612"; do
  root=$(unpack "$pkg")
  # trixie keeps modules under usr/lib; give depmod -b the /lib view it expects
  if [ -d "$root/usr/lib/modules" ] && [ ! -e "$root/lib" ]; then ln -s usr/lib "$root/lib"; fi
  ver=${pkg#linux-image-}
  case $ver in 6.1.0-*) label=6.1 ;; *) label=6.12 ;; esac
  echo "$label $ver $root $(cat "$root/.deb")"
done
if [ "$TESTBED" = --testbed ]; then
  for pkg in busybox-static kmod; do
    root=$(unpack "$pkg" bookworm)
    echo "pkg $pkg $root $(cat "$root/.deb")"
  done
fi
