# Where a lone load's time goes: the guest's CPU set loaded by one racer (N = 1) with
# CALL (finit or init), under the function_graph tracer limited to the load path's
# traceable functions (the read, the decompression, the signature check, the first step of
# the layout, the module memory, do_init_module, the initcall) and the scheduler's
# switches of the racer. Prints the storm's report, then the raw trace.
# `cargo xtask vm phases` runs it (one storm per step) and summarises the trace
# (xtask/src/vm/phases.rs); by hand:
# `cargo xtask vm exec --kernel 6.12 "CALL=init; $(cat testbed/scripts/trace-phases.sh)"`.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
FILES=$(/sbin/modprobe --show-depends "$(cat /sys/devices/system/cpu/modalias)" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
WANT='__x64_sys_finit_module __x64_sys_init_module kernel_read_file module_decompress load_module module_sig_check layout_and_allocate module_frob_arch_sections add_unformed_module execmem_alloc module_alloc do_init_module do_one_initcall'
echo 0 > $T/tracing_on
echo nop > $T/current_tracer
: > $T/set_ftrace_filter
for f in $WANT; do grep -qx "$f" $T/available_filter_functions && echo "$f" >> $T/set_ftrace_filter; done
echo "filter: $(tr '\n' ' ' < $T/set_ftrace_filter)"
echo function_graph > $T/current_tracer
echo 1 > $T/options/funcgraph-abstime
echo 1 > $T/options/funcgraph-proc
echo 1 > $T/options/funcgraph-tail
echo 16384 > $T/buffer_size_kb
echo 'prev_comm == "racer" || next_comm == "racer"' > $T/events/sched/sched_switch/filter
echo 1 > $T/events/sched/sched_switch/enable
racer reset >/dev/null 2>&1
sleep 1
echo > $T/trace
echo 1 > $T/tracing_on
RACER_NO_TRACE=1 racer storm --label "phases-${CALL:-finit}" --n 1 --call ${CALL:-finit} -- $FILES > /tmp/storm.out 2>&1
echo 0 > $T/tracing_on
echo "== storm"
grep -o '"calls_ms":\[.*\]\]' /tmp/storm.out | head -c 20000; echo
echo "== trace"
grep -v '^#' $T/trace | grep -v -e '^ *-----' -e '=>' -e '^$'
