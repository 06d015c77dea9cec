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

# Chromium's headless shell draws the slide deck's figures (plotly's static export, kaleido); it
# needs none of the desktop browser's GTK and X libraries. Without it the PowerPoint deck is
# refused with a sentence and the HTML deck still works. Versions are Debian bookworm's current
# security releases, not pinned: a pinned Chromium would stop building at its next security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends chromium-headless-shell fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
# kaleido finds the browser here; it writes its profile and caches under /tmp (the root file
# system is read-only at run time).
ENV BROWSER_PATH=/usr/bin/chromium-headless-shell \
    XDG_CONFIG_HOME=/tmp/.config \
    XDG_CACHE_HOME=/tmp/.cache

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
