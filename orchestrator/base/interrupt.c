/*
 * interrupt.c - the flag a stop signal sets, read by every wait.  Only
 * sig_atomic_t stores happen in the handler's path.
 */
#include "interrupt.h"

#include <signal.h>

static volatile sig_atomic_t first_signal;
static volatile sig_atomic_t signal_count;

int interrupt_signal(void)
{
    return first_signal;
}

int interrupt_note(int sig)
{
    if (!first_signal)
        first_signal = sig;
    if (signal_count < 1000)
        signal_count++;
    return signal_count;
}

void interrupt_reset(void)
{
    first_signal = 0;
    signal_count = 0;
}
