# The line's services (the ARI app now; the AGI server and the transcription worker use the same
# image): the project in a venv, one service per container, chosen by `command:`.
FROM python:3.12-slim

ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/nachtdienst/venv
COPY . /src
RUN /opt/nachtdienst/venv/bin/pip install /src
ENV PATH=/opt/nachtdienst/venv/bin:$PATH

COPY docker/ari-app-healthcheck.py /opt/nachtdienst/ari-app-healthcheck.py

RUN useradd --system --user-group --home-dir /var/lib/nachtdienst --shell /usr/sbin/nologin nachtdienst \
 && install -d -o nachtdienst -g nachtdienst -m 0700 /var/lib/nachtdienst

USER nachtdienst
# load_settings() reads ./nachtdienst.toml if present: start where none can be by accident.
WORKDIR /var/lib/nachtdienst
CMD ["nachtdienst", "service", "ari"]
