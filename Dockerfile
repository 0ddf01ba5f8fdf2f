# The image of the dbt Cloud job action (`runs: using: docker, image: Dockerfile`).
#
# The base is a build argument so CI can build this very file on a stand-in image made from
# Debian packages (.ci/container-check); users get the official image pinned by digest. The
# digest is the multi-arch index of python:3.12-slim (linux/amd64 and linux/arm64 among others);
# bump it deliberately, never to a tag alone.
ARG BASE_IMAGE=python:3.12-slim@sha256:229a2c5bfa27522db7815ea81f9bed70af17ccb9de9fc7ad142b1877b5830d36
FROM ${BASE_IMAGE}

# Runtime dependencies from the fully pinned, hash-checked lock: wheels only (no compiler in a
# slim image), nothing resolved at build time, no pip cache left in the layer.
COPY requirements/runtime.txt /tmp/runtime.txt
RUN python -m pip install --no-cache-dir --disable-pip-version-check --root-user-action=ignore \
        --require-hashes --no-deps --only-binary=:all: -r /tmp/runtime.txt \
    && rm /tmp/runtime.txt

COPY src/dbt_cloud_action/ /action/src/dbt_cloud_action/
COPY entrypoint.py post_entrypoint.py /action/
# Bytecode made once here (each run starts from a fresh container and PYTHONDONTWRITEBYTECODE
# stops it being cached); unchecked-hash skips the per-import source stat and keeps the layer
# reproducible. The post step is started as `--entrypoint /action/post_entrypoint.py`, so both
# scripts must be executable.
RUN python -m compileall -q --invalidation-mode unchecked-hash /action/src \
    && chmod 0755 /action/entrypoint.py /action/post_entrypoint.py

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/action/src

# Runs as root on purpose: the runner mounts /github/workspace and /github/file_commands owned
# by its own user, and the action must write GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_STATE
# there. No WORKDIR: the runner passes --workdir /github/workspace itself.
ENTRYPOINT ["python", "/action/entrypoint.py"]
