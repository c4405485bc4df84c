# bluebook: the engine + API by default (`bluebook api`), the settlement worker with
# `docker run IMAGE settle`. Configured by environment (BLUEBOOK_*, see bluebook/settings.py);
# secrets come from files (BLUEBOOK_SIGNER_KEY_FILE, BLUEBOOK_ADMIN_TOKEN_FILE), e.g. mounted
# container secrets. The contract artifacts are committed, so no Node.js is needed here.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/bluebook
COPY pyproject.toml README.md ./
COPY matcher matcher
COPY store store
COPY settlement settlement
COPY api api
COPY bluebook bluebook
COPY migrations migrations
RUN /opt/bluebook/bin/pip install ".[postgresql]"

FROM ${PYTHON_IMAGE}
ENV PATH=/opt/bluebook/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BLUEBOOK_MODE=production BLUEBOOK_DATA_DIR=/var/lib/bluebook BLUEBOOK_HOST=0.0.0.0
RUN useradd --system --uid 10001 --home-dir /var/lib/bluebook --create-home bluebook
COPY --from=build /opt/bluebook /opt/bluebook
USER bluebook
WORKDIR /var/lib/bluebook
VOLUME /var/lib/bluebook
EXPOSE 8000
ENTRYPOINT ["bluebook"]
CMD ["api"]
