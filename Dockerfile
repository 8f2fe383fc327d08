# One image for the five services: python -m services.<name> picks which one runs.
FROM python:3.11-slim

# fonts-dejavu-core: the reporter embeds DejaVu Sans in its PDFs
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SMARTCAB_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY services ./services
COPY firmware ./firmware
# a regular (non-editable) install: package-data carries the web's templates and static files
RUN pip install --no-compile . && rm -rf /app/build

COPY deploy/healthcheck.py /app/healthcheck.py

RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin smartcab \
    && mkdir -p /data /reports && chown smartcab:smartcab /data /reports
USER smartcab
# a new named volume takes its mount point's owner: /reports is the reporter's to write
VOLUME ["/data", "/reports"]
EXPOSE 5050 5000

CMD ["python", "-m", "services.gateway"]
