# The outcomes dashboard, self-hosted. Build: docker build -t tacrolimus-dashboard .
# BASE_IMAGE lets the image be built on a local Debian base where registries are out of reach.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    COHORT_PATH=

WORKDIR /app
COPY requirements.txt .
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir -r requirements.txt \
    && groupadd --system --gid 10001 dashboard \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/dashboard --shell /usr/sbin/nologin dashboard

# Only what the app needs: no tests, no benchmarks, no .git (see .dockerignore).
COPY --chown=root:root server.py ./
COPY --chown=root:root app.py ./
COPY --chown=root:root .streamlit ./.streamlit
COPY --chown=root:root analysis ./analysis
COPY --chown=root:root hosting ./hosting
COPY --chown=root:root views ./views
COPY --chown=root:root data ./data

USER 10001:10001
EXPOSE 8501
# Health without curl: Python's urllib against Streamlit's health endpoint.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4).read() == b'ok' else 1)"]
ENTRYPOINT ["streamlit", "run", "server.py", \
    "--server.address=0.0.0.0", "--server.port=8501", "--server.headless=true", \
    "--browser.gatherUsageStats=false", "--browser.serverAddress=localhost", "--client.showErrorDetails=none", "--client.toolbarMode=viewer", \
    "--server.enableXsrfProtection=true", "--server.enableCORS=true", "--server.fileWatcherType=none", \
    "--server.maxUploadSize=50"]
