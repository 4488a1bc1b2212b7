# The guest's CPU-set storm with the scheduler's view of every racer: each time a racer
# sleeps (sched_switch, not runnable) the kernel stack it sleeps in, each wake-up and its
# waker's stack, and the module_load / module_free tracepoints; summarised one line per
# event (testbed/failing-init-trace.md). N and CALL choose the storm (default: 4,
# init_module). Run by
# `cargo xtask vm exec --kernel 6.12 "$(cat testbed/scripts/trace-waits.sh)"`.
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs nodev $T
racer reset >/dev/null 2>&1
sleep 1
FILES=$(/sbin/modprobe --show-depends "$(cat /sys/devices/system/cpu/modalias)" 2>/dev/null | awk '$1 == "insmod" && !seen[$2]++ { print $2 }')
echo 0 > $T/tracing_on
echo > $T/trace
echo 32768 > $T/buffer_size_kb
echo 'prev_comm == "racer" && prev_state != 0' > $T/events/sched/sched_switch/filter
echo 'comm == "racer"' > $T/events/sched/sched_wakeup/filter
echo 1 > $T/events/sched/sched_switch/enable
echo 1 > $T/events/sched/sched_wakeup/enable
echo 1 > $T/events/module/module_load/enable
echo 1 > $T/events/module/module_free/enable
echo 1 > $T/options/stacktrace
echo 1 > $T/tracing_on
RACER_NO_TRACE=1 racer storm --label t --n ${N:-4} --call ${CALL:-init} -- $FILES > /tmp/storm.out 2>&1
echo 0 > $T/tracing_on
grep -o '"errnos":{[^}]*}' /tmp/storm.out | head -2
grep -o '"call_spread_ms":{[^}]*}' /tmp/storm.out | head -c 3000; echo
awk '
/sched_switch:/ { flush(); mode="S"; t=$0; sub(/.*\] [^ ]* +/, "", t); sub(/:.*/, "", t); p=$0; sub(/.*prev_pid=/, "", p); sub(/ .*/, "", p); s=$0; sub(/.*prev_state=/, "", s); sub(/ .*/, "", s); hdr="S " t " " p " " s; fr=""; nf=0; next }
/sched_wakeup:/ { flush(); mode="W"; t=$0; sub(/.*\] [^ ]* +/, "", t); sub(/:.*/, "", t); p=$0; sub(/.*pid=/, "", p); sub(/ .*/, "", p); w=$1; hdr="W " t " " p " by " w; fr=""; nf=0; next }
/module_load:|module_free:/ { flush(); t=$0; sub(/.*\] [^ ]* +/, "", t); sub(/:.*/, "", t); m=$0; sub(/.*module_(load|free): /, "", m); sub(/ .*/, "", m); ev=($0 ~ /module_load/) ? "LOAD" : "FREE"; print "M " t " " ev " " m; mode=""; next }
/<stack trace>/ { next }
/^ => / { if (mode == "") next; f=$2; if (f ~ /^(__schedule|schedule|schedule_timeout|schedule_preempt_disabled|__traceiter|trace_|ttwu_do_activate|try_to_wake_up|__wake_up_common|__wake_up|wake_up_q|__raw_spin|_raw_spin|preempt_schedule)/) next; if (nf < 5) { fr = fr "<" f; nf++ } ; next }
{ flush() }
function flush() { if (hdr != "") print hdr " " fr; hdr=""; mode="" }
END { flush() }
' $T/trace | head -4000
