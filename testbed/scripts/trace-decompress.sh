# When each loader decompresses: N racers (default 8) load the guest CPU's per-CPU set from
# tmpfs copies (distinct inodes) with finit_module (flag 4), under the function_graph
# tracer limited to the system call and module_decompress. Prints the storm's sampled
# peak, then the raw trace (one line per call, or an entry and an exit when other
# events came between). testbed/dictionary-trace.md uses it; by hand:
# `cargo xtask vm exec --kernel 6.12 "N=8; $(cat testbed/scripts/trace-decompress.sh)"`.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
FILES=$(/sbin/modprobe --show-depends "$(cat /sys/devices/system/cpu/modalias)" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
echo 0 > $T/tracing_on
echo nop > $T/current_tracer
: > $T/set_ftrace_filter
for f in __x64_sys_finit_module module_decompress; do
    grep -qx "$f" $T/available_filter_functions && echo "$f" >> $T/set_ftrace_filter
done
echo function_graph > $T/current_tracer
echo 1 > $T/options/funcgraph-abstime
echo 1 > $T/options/funcgraph-proc
echo 1 > $T/options/funcgraph-tail
echo 16384 > $T/buffer_size_kb
racer reset >/dev/null 2>&1
sleep 1
echo > $T/trace
echo 1 > $T/tracing_on
RACER_NO_TRACE=1 racer storm --label "decompress" --n ${N:-8} --copies --call finit -- $FILES > /tmp/storm.out 2>&1
echo 0 > $T/tracing_on
echo "== storm"
grep -o '"peak_vmalloc_delta_kb":[0-9]*' /tmp/storm.out
echo "== trace"
grep -v '^#' $T/trace | grep -v -e '^ *-----' -e '=>' -e '^$' | grep -e module_decompress -e sys_finit
