# When each of kmod's modprobes made its calls: the campaign's kmod CPU-set storm (N
# modprobes of the guest CPU's modalias, default 4) ROUNDS times (default 4), with the
# racer's own syscall tracepoints (every init_module/finit_module entry with its `len`,
# every return) and the exec and exit of every modprobe (the kernel's usermode-helper
# modprobes too). kmod 30 decompresses a .ko.xz in user space and passes it to
# init_module, so `len` is the module's decompressed size: the SIZE lines name them. Per
# round the storm's JSON line (its errnos) and the trace's event lines
# (testbed/kmod-calls.txt).
# By hand: `cargo xtask vm exec --kernel 6.1 "N=4; $(cat testbed/scripts/trace-kmod-calls.sh)"`.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
MODALIAS=$(cat /sys/devices/system/cpu/modalias)
FILES=$(/sbin/modprobe --show-depends "$MODALIAS" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
for f in $FILES; do
    case $f in *.xz) echo "SIZE $f $(xzcat $f | wc -c)" ;; *) echo "SIZE $f $(wc -c < $f)" ;; esac
done
racer load $FILES >/dev/null 2>&1
echo 0 > $T/tracing_on
echo nop > $T/current_tracer
echo 16384 > $T/buffer_size_kb
echo 'filename ~ "*modprobe"' > $T/events/sched/sched_process_exec/filter
echo 'comm == "modprobe"' > $T/events/sched/sched_process_exit/filter
echo 1 > $T/events/sched/sched_process_exec/enable
echo 1 > $T/events/sched/sched_process_exit/enable
for round in $(seq ${ROUNDS:-4}); do
    racer reset >/dev/null 2>&1
    sleep 1
    echo > $T/trace
    echo 1 > $T/tracing_on
    racer storm --label "kmod-$round" --n ${N:-4} --call exec --timeout 180 -- /sbin/modprobe "$MODALIAS" > /tmp/storm.out 2>&1
    echo 0 > $T/tracing_on
    echo "== round $round"
    grep -o '"errnos":{[^}]*}' /tmp/storm.out | head -1
    grep -v '^#' $T/trace
done
