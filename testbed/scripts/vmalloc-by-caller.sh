# The per-CPU set loaded one module at a time; after each load, VmallocUsed and
# /proc/vmallocinfo summed by caller (testbed/vmalloc-by-caller.md). Run by
# `cargo xtask vm exec --kernel 6.12 "$(cat testbed/scripts/vmalloc-by-caller.sh)"`.
snap() { awk '/pages=/ { split($3, c, "+"); p = $0; sub(/.*pages=/, "", p); sub(/ .*/, "", p); t[c[1]] += p; n[c[1]]++ } END { for (k in t) print k, n[k], t[k] }' /proc/vmallocinfo | sort; }
used() { awk '/VmallocUsed/ {print $2}' /proc/meminfo; }
racer reset >/dev/null 2>&1
sleep 2
echo "BASE $(used)"; snap | sed 's/^/S0 /'
i=0
for f in $(/sbin/modprobe --show-depends "$(cat /sys/devices/system/cpu/modalias)" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }'); do
  i=$((i+1))
  racer load $f >/dev/null 2>&1
  echo "MOD $i ${f##*/} $(used)"
  snap | sed "s/^/S$i /"
done
sleep 3
echo "END $(used)"; snap | sed 's/^/SE /'
