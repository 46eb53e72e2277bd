# syntax=docker/dockerfile:1
# Multilingual text-to-image search bot: CPU-only image, models baked in, runs as a non-root user.
#
#   docker build -t t2i-bot .                                  # default: models baked in
#   docker build --build-arg BAKE_MODELS=0 -t t2i-bot:slim .   # models fetched at first start
#
# Build arguments (all optional):
#   BASE_IMAGE       Python 3.11 on Debian bookworm with `python3 -m venv` working
#   TORCH_INDEX_URL  index serving the CPU torch wheel (PyPI's torch pulls ~3 GB of CUDA libs)
#   PIP_EXTRA_ARGS   extra options for every pip install, e.g. "--find-links /wheels"
#   BAKE_MODELS      1: download the configured models now and run offline; 0: skip
#   T2I_MODEL_PRESET, T2I_IMAGE_MODEL, T2I_TEXT_MODEL   the models (default: the settings'
#                    defaults); they also become the image's model settings (/app/.env).
#                    Models are hub names, or folders under
#                    /opt/local-models given by the optional named build context `local-models`
#                    (--build-context local-models=DIR: DIR's content lands in /opt/local-models)
# See docs/deploy.md for running it (docker compose) and scripts/docker-smoke.sh for the test.

ARG BASE_IMAGE=python:3.11-slim-bookworm

# --- local models: empty unless replaced with --build-context local-models=DIR -----------------
FROM scratch AS local-models

# --- builder: a virtual environment with CPU torch and the pinned requirements ----------------
FROM ${BASE_IMAGE} AS builder
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG PIP_EXTRA_ARGS=""
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python3 -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# torch alone first, from the CPU index only, at the exact pin of requirements.txt; the full
# install after it then finds torch satisfied and leaves it alone. PIP_EXTRA_ARGS is split on
# purpose (several options in one argument), hence SC2086; the torch pin is exact but read from
# requirements.txt, which hadolint cannot see, hence DL3013.
# hadolint ignore=SC2086,DL3013
RUN pip install --index-url "$TORCH_INDEX_URL" $PIP_EXTRA_ARGS \
        "$(grep -E '^torch==' /tmp/requirements.txt)" \
 && python -c "import torch, sys; sys.exit(f'CUDA torch {torch.version.cuda}' if torch.version.cuda else 0)"
# hadolint ignore=SC2086
RUN pip install $PIP_EXTRA_ARGS -r /tmp/requirements.txt \
 && python -c "import torch, sys; sys.exit(f'CUDA torch {torch.version.cuda}' if torch.version.cuda else 0)"
# ~190 MB the app never uses: torch's C++ test binaries and headers (the latter serve only
# C++ extensions and torch.compile, which this project does not use); torch_shm_manager stays.
RUN site="$(python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
 && rm -rf "$site/torch/test" "$site/torch/include" \
 && find "$site/torch/bin" -type f ! -name torch_shm_manager -delete \
 && python -c "import torch, faiss, sentence_transformers, telegram; torch.ones(2) @ torch.ones(2)"

# --- runtime ----------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG BAKE_MODELS=1
ARG T2I_MODEL_PRESET=""
ARG T2I_IMAGE_MODEL=""
ARG T2I_TEXT_MODEL=""
LABEL org.opencontainers.image.title="t2i-bot" \
      org.opencontainers.image.description="Multilingual text-to-image search Telegram bot (CPU)"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HOME=/models \
    T2I_DATA_DIR=/data \
    T2I_HEARTBEAT_FILE=/tmp/t2i-bot.heartbeat
# A fixed uid (10001) so host folders bind-mounted on /data can be chowned to it.
RUN useradd --create-home --uid 10001 --user-group app \
 && mkdir -p /data /models \
 && chown app:app /data /models
COPY --from=builder /opt/venv /opt/venv
# Owned by the app user: model files saved with mode 0600 (safetensors does that) stay readable.
COPY --from=local-models --chown=10001:10001 / /opt/local-models/
WORKDIR /app
# The model settings given at build time become the image's defaults through /app/.env, which
# the settings read from the working directory; the environment (compose's env_file, -e)
# still wins. Not ENV: an empty T2I_* variable is a setting, and models given as ENV would
# clash with a T2I_MODEL_PRESET chosen at run time.
RUN { [ -z "$T2I_MODEL_PRESET" ] || echo "T2I_MODEL_PRESET=$T2I_MODEL_PRESET"; \
      [ -z "$T2I_IMAGE_MODEL" ] || echo "T2I_IMAGE_MODEL=$T2I_IMAGE_MODEL"; \
      [ -z "$T2I_TEXT_MODEL" ] || echo "T2I_TEXT_MODEL=$T2I_TEXT_MODEL"; } > /app/.env
COPY search/ search/
COPY indexer/ indexer/
# Numeric, so `runAsNonRoot`-style checks can verify it is not root.
USER 10001:10001
# Bake the models as the app user (the cache stays writable by it, e.g. in a volume on /models);
# this layer is rebuilt only when search/ or indexer/ change, not for bot-only changes. The
# build arguments are unset here (empty ones would count as settings): /app/.env has them.
RUN if [ "$BAKE_MODELS" = 1 ]; then \
        env -u T2I_MODEL_PRESET -u T2I_IMAGE_MODEL -u T2I_TEXT_MODEL HF_HUB_OFFLINE=0 \
            python -m indexer download-models; \
    else echo "BAKE_MODELS=$BAKE_MODELS: models are downloaded into $HF_HOME at first use"; fi
COPY bot/ bot/
COPY --chmod=755 docker/entrypoint.sh /usr/local/bin/t2i-entrypoint
# Baked: never reach the model hub at run time (start-up works without network access).
ENV HF_HUB_OFFLINE=${BAKE_MODELS}
VOLUME ["/data"]
# Alive = the bot's event loop touched its heartbeat file within 90 s (not just "Python starts").
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["python", "-m", "bot", "healthcheck"]
ENTRYPOINT ["t2i-entrypoint"]
CMD ["bot"]
