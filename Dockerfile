# The aqcast service image: API, duty officers' page and the scheduled jobs.
#   docker build -t aqcast .
#   docker run -p 8000:8000 -e AQCAST_DATABASE_URL=postgresql+psycopg://... aqcast
# The entrypoint migrates the database, then runs `aqcast serve` (or the command given,
# e.g. `serve --no-scheduler` for API-only replicas).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AQCAST_ENV=production \
    AQCAST_HOME=/var/lib/aqcast \
    AQCAST_API_HOST=0.0.0.0 \
    AQCAST_API_PORT=8000

# LightGBM needs the OpenMP runtime; the Chinese page, figures and the prompt PDF need
# CJK fonts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 fonts-noto-cjk \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import subprocess, sys, tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
subprocess.check_call([sys.executable, '-m', 'pip', 'install', *deps])"

# Then the code.
COPY README.md ./
COPY aqcast ./aqcast
COPY service ./service
COPY features ./features
COPY models ./models
COPY alerts ./alerts
RUN pip install --no-deps . && rm -rf build *.egg-info

COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN chmod 0755 /usr/local/bin/docker-entrypoint.sh \
    && useradd --system --uid 10001 --home-dir /var/lib/aqcast --shell /usr/sbin/nologin aqcast \
    && mkdir -p /var/lib/aqcast \
    && chown aqcast:aqcast /var/lib/aqcast

USER aqcast
WORKDIR /var/lib/aqcast
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('AQCAST_API_PORT', '8000') + '/healthz', timeout=4)"]

ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["serve"]
