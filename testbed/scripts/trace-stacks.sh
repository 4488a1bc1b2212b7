# What VmallocUsed holds at a lone CPU-set storm's peak, and how long kernel-thread stacks
# live: one racer (N, default 1) loads the guest CPU's per-CPU set (finit_module, the
# tree's files) while tracefs records every vmap area allocated (`vmalloc:alloc_vmap_area`,
# with a stack trace: a task stack from copy_process, the xz dictionary from xz_dec_*, the
# read buffer from kernel_read_file, module memory from execmem, or a vmap() of the
# decompressed pages, which VmallocUsed does not count) and freed
# (`vmalloc:free_vmap_area_noflush`, by address), by every task. Prints VmallocUsed
# before and after, the storm's sampled peak, then the raw trace.
# By hand: `cargo xtask vm exec --kernel 6.12 "$(cat testbed/scripts/trace-stacks.sh)"`.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
FILES=$(/sbin/modprobe --show-depends "$(cat /sys/devices/system/cpu/modalias)" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
echo 0 > $T/tracing_on
echo nop > $T/current_tracer
echo 32768 > $T/buffer_size_kb
echo 1 > $T/events/vmalloc/alloc_vmap_area/enable
echo 1 > $T/events/vmalloc/free_vmap_area_noflush/enable
echo 'stacktrace' > $T/events/vmalloc/alloc_vmap_area/trigger
racer reset >/dev/null 2>&1
sleep 1
echo > $T/trace
grep VmallocUsed /proc/meminfo
echo 1 > $T/tracing_on
RACER_NO_TRACE=1 racer storm --label "stacks" --n ${N:-1} --call finit -- $FILES > /tmp/storm.out 2>&1
echo 0 > $T/tracing_on
grep VmallocUsed /proc/meminfo
echo "== storm"
for key in peak_vmalloc_delta_kb end_vmalloc_delta_kb samples wall_ms; do grep -o "\"$key\":[0-9.]*" /tmp/storm.out; done
echo "== trace"
grep -v '^#' $T/trace | grep -v '^ *=> \(entry_SYSCALL\|do_syscall\|x64_sys_call\|ret_from_fork\)'
