// The only C that Drover imports from libsystemd: sd-bus (D-Bus API), sd-daemon (sd_notify)
// and sd-journal. Swift never calls the C-variadic functions among them; see DroverSystemd.
#pragma once
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <sys/eventfd.h>
