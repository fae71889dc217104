# daemon-lib.sh - sourced by the scripts that start the tests' servers
# (infra.sh, remote.sh, swarm.sh, cluster.sh): one way to start a server
# that outlives the script, and one bounded wait for it to answer.
# Each script defines log() before sourcing this.

# Starts "$@" in its own session (setsid), its output to $1, stdin from
# /dev/null, in the background.  It inherits none of the descriptors 3-9
# (the shell's range): one held by whoever ran us, such as a flock(1) lock
# file, would otherwise stay open, and locked, as long as the server runs.
spawn_detached() {
    spawn_log=$1
    shift
    setsid sh -c 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && [ "$fd" -lt 10 ] && eval "exec $fd>&-"; done
                  exec "$@"' close_fds_exec "$@" >"$spawn_log" 2>&1 </dev/null &
}

# Runs "$@" every 0.5 s until it succeeds; after 60 s says what did not
# happen ($1), shows the end of the log $2 and exits 1.
wait_until() {
    wait_what=$1
    wait_log=$2
    shift 2
    wait_i=0
    until "$@"; do
        wait_i=$((wait_i + 1))
        if [ "$wait_i" -gt 120 ]; then
            log "not within 60 s: $wait_what; the end of $wait_log:"
            tail -20 "$wait_log" >&2
            exit 1
        fi
        sleep 0.5
    done
}
