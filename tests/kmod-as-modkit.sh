#!/bin/sh
# Stands in for the modkit binary with kmod's own tools, to prove the differential harness
# (`cargo xtask test --kmod-as-modkit`): every comparison must then pass.
# Usage: kmod-as-modkit.sh TOOL ARGS...   (modkit's own --index-layout option is dropped),
#    or through a link named depmod or modinfo, like modkit itself.
case ${0##*/} in
  depmod | modinfo) tool=${0##*/} ;;
  *) tool=$1; shift ;;
esac
case $tool in
  depmod)
    for arg; do
      shift
      case $arg in --index-layout=*) ;; *) set -- "$@" "$arg" ;; esac
    done
    exec /sbin/depmod "$@" ;;
  modinfo) exec /sbin/modinfo "$@" ;;
  kmod) exec /bin/kmod "$@" ;;
  # argv[0] is the bare tool name, as when modkit runs as `modkit TOOL`
  modprobe | insmod | rmmod | lsmod) exec /bin/bash -c 'exec -a "$0" "/sbin/$0" "$@"' "$tool" "$@" ;;
  *) echo "kmod-as-modkit: unknown tool $tool" >&2; exit 2 ;;
esac
