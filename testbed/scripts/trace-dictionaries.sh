# How many xz dictionaries the loaders hold at once: N racers (default 8) load the guest
# CPU's per-CPU set from tmpfs copies (distinct inodes) with finit_module (flag 4) while
# tracefs records every vmap area a racer allocates (`vmalloc:alloc_vmap_area`: address,
# size) and frees (`vmalloc:free_vmap_area_noflush`: address). The xz decoder's
# dictionary is the only area of 1 MiB + a guard page (1,052,672 bytes), so pairing
# allocations with frees by address counts the dictionaries held over time, to compare
# with the storm's sampled VmallocUsed peak (printed first, with the number of samples).
# By hand: `cargo xtask vm exec --kernel 6.12 "N=8; $(cat testbed/scripts/trace-dictionaries.sh)"`.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
FILES=$(/sbin/modprobe --show-depends "$(cat /sys/devices/system/cpu/modalias)" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
echo 0 > $T/tracing_on
echo nop > $T/current_tracer
echo 16384 > $T/buffer_size_kb
for e in alloc_vmap_area free_vmap_area_noflush; do
    echo 'comm == "racer"' > $T/events/vmalloc/$e/filter
    echo 1 > $T/events/vmalloc/$e/enable
done
racer reset >/dev/null 2>&1
sleep 1
echo > $T/trace
echo 1 > $T/tracing_on
RACER_NO_TRACE=1 racer storm --label "dictionaries" --n ${N:-8} --copies --call finit -- $FILES > /tmp/storm.out 2>&1
echo 0 > $T/tracing_on
echo "== storm"
for key in peak_vmalloc_delta_kb samples wall_ms; do grep -o "\"$key\":[0-9.]*" /tmp/storm.out; done
echo "== trace"
grep -v '^#' $T/trace
