#!/bin/sh
# meson install script: puts the example configuration in place as
# $DESTDIR/etc/modbus2mail/modbus2mail.yaml and creates an empty, 0600
# smtp.secret (the unit's LoadCredential= source), each only when absent.
# The daemon's default path is /etc/modbus2mail whatever the prefix.
set -eu

example=$1
etc="${DESTDIR:-}/etc/modbus2mail"

if ! install -d -m 0755 "$etc" 2>/dev/null; then
	echo "install-config: cannot create $etc (run meson install as root," \
	    "or with --destdir)" >&2
	exit 1
fi
if [ -e "$etc/modbus2mail.yaml" ]; then
	echo "install-config: keeping existing $etc/modbus2mail.yaml"
else
	install -m 0644 "$example" "$etc/modbus2mail.yaml"
	echo "install-config: installed $etc/modbus2mail.yaml (edit it)"
fi
if [ -e "$etc/smtp.secret" ]; then
	echo "install-config: keeping existing $etc/smtp.secret"
else
	# umask first: the file is never readable by others, not even briefly.
	(umask 077 && : > "$etc/smtp.secret")
	chmod 0600 "$etc/smtp.secret"
	echo "install-config: created empty $etc/smtp.secret (mode 0600)"
fi
