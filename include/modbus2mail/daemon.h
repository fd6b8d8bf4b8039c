/*
 * daemon.h - `modbus2mail run`: start-up, signals (SIGTERM stop, SIGHUP
 * reload), systemd notification and watchdog, the control socket, the
 * daily sign of life. Returns the process exit code.
 */
#ifndef MODBUS2MAIL_DAEMON_H
#define MODBUS2MAIL_DAEMON_H

int	daemon_run(const char *config_path, int verbose);

#endif
