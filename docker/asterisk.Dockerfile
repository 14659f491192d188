# The line's Asterisk: Debian's Asterisk 22 (packaged in testing, not in stable), configured at
# every start by the project's own renderer, from the same settings the services read.
FROM debian:testing-slim

# asterisk-modules brings PJSIP, ARI and AGI; espeak-ng and sox make the spoken prompts.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      asterisk asterisk-modules python3 python3-venv espeak-ng sox ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# Only rendered configuration is used: the package's sample files would configure modules the
# renderer keeps out (and could open ports). The package lacks the recording spool, without
# which ARI answers 500 to every record request.
RUN rm -rf /etc/asterisk \
 && install -d -o root -g asterisk -m 0750 /etc/asterisk \
 && install -d -o asterisk -g asterisk \
      /var/spool/asterisk/recording /var/spool/asterisk/voicemail /var/run/asterisk \
 && install -d -m 0700 /var/lib/nachtdienst

RUN python3 -m venv /opt/nachtdienst/venv
COPY . /src
RUN /opt/nachtdienst/venv/bin/pip install --no-cache-dir --disable-pip-version-check /src
ENV PATH=/opt/nachtdienst/venv/bin:$PATH

COPY docker/asterisk-entrypoint.sh /usr/local/bin/asterisk-entrypoint
RUN chmod 0755 /usr/local/bin/asterisk-entrypoint

# load_settings() reads ./nachtdienst.toml if present: start where none can be by accident.
WORKDIR /var/lib/nachtdienst
EXPOSE 5060/udp 8088/tcp
ENTRYPOINT ["/usr/local/bin/asterisk-entrypoint"]
