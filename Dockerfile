# Quire: installs the package with its own fonts and runs as a non-root user.
# Until the web app exists the default command renders the demo report into /app/out.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY engine ./engine
COPY web ./web
COPY bench ./bench
COPY examples ./examples
RUN pip install -c constraints.txt -e . \
    && useradd --create-home --uid 10001 quire \
    && mkdir -p /app/out /app/data \
    && chown -R quire:quire /app/out /app/data

USER quire
CMD ["quire", "demo", "--db", "/app/data/demo.db", "-o", "/app/out/sales_by_region.pdf"]
