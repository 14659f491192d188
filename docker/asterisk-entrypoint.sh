#!/bin/sh
# Renders Asterisk's configuration from the settings (NACHTDIENST_* from the env file), then
# runs Asterisk in the foreground as the asterisk user. A failed render stops the container:
# starting Asterisk on stale or missing configuration would take calls the wrong way.
set -eu

nachtdienst pbx render --etc-dir /etc/asterisk
# Asterisk reads ari.conf (the ARI password, mode 0640) after dropping to its own user.
chgrp -R asterisk /etc/asterisk

# Volumes may predate this image, or be fresh and empty: make sure every directory Asterisk
# writes to exists and is its own. ARI record answers 500 without the recording spool.
for dir in /var/lib/asterisk /var/log/asterisk /var/spool/asterisk \
           /var/spool/asterisk/recording /var/spool/asterisk/voicemail /var/run/asterisk; do
  mkdir -p "$dir"
  chown asterisk:asterisk "$dir"
done

exec asterisk -f -U asterisk -G asterisk
