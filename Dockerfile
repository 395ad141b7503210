# Quire: installs the package with its own fonts and runs as a non-root user.
# It runs the web app on all interfaces, so it needs QUIRE_TOKEN; its data dir is a volume:
#   docker run -p 8000:8000 -e QUIRE_TOKEN=... -v quire-data:/app/data quire
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY engine ./engine
COPY web ./web
COPY bench ./bench
COPY examples ./examples
COPY static ./static
RUN pip install -c constraints.txt -e . \
    && useradd --create-home --uid 10001 quire \
    && mkdir -p /app/out /app/data \
    && chown -R quire:quire /app/out /app/data

USER quire
ENV QUIRE_DATA_DIR=/app/data QUIRE_HOST=0.0.0.0 QUIRE_PORT=8000
VOLUME ["/app/data"]
EXPOSE 8000
CMD ["quire", "serve"]
