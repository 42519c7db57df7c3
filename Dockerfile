# The hydra-ray cluster image: the Ray image of our Ray and Python versions, the sandbox's system
# tools, and hydra-ray with its pinned dependencies (pyproject.toml). Two variants, one file:
#
#   docker build                       -t ghcr.io/CHANGE-ME/hydra-ray:0.1.0-ray2.60.0-py311-cpu .
#   docker build --build-arg VARIANT=gpu -t ghcr.io/CHANGE-ME/hydra-ray:0.1.0-ray2.60.0-py311-gpu .
#
# cpu: head, profiling and verification nodes (enrich, label, serve's verifier, and the train driver:
# CPU torch/TRL/peft); gpu: training and generation nodes (CUDA torch, bitsandbytes). clusters/aws.yaml, gcp.yaml and kuberay/*
# name exactly these tags (tests/test_clusters.py checks it); clusters/README.md says how to push.
ARG RAY_VERSION=2.60.0
ARG PYTHON=py311
ARG VARIANT=cpu
FROM rayproject/ray:${RAY_VERSION}-${PYTHON}-${VARIANT}

ARG RAY_VERSION
ARG PYTHON
ARG VARIANT
ARG IMAGE=ghcr.io/CHANGE-ME/hydra-ray
ARG HYDRA_RAY_VERSION=0.1.0
LABEL org.opencontainers.image.ref.name="${IMAGE}:${HYDRA_RAY_VERSION}-ray${RAY_VERSION}-${PYTHON}-${VARIANT}" \
      org.opencontainers.image.title="hydra-ray" \
      org.opencontainers.image.version="${HYDRA_RAY_VERSION}"

# The sandbox isolates each program with bubblewrap; cluster presets count instructions with valgrind.
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap valgrind \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /opt/hydra-ray && chown ray:users /opt/hydra-ray
USER ray
WORKDIR /opt/hydra-ray

# The package and the presets (configs/ is not in the wheel; jobs name /opt/hydra-ray/configs/...).
# constraints.tx[t]: the exact versions seen installing together, used when the checkout has the file.
COPY --chown=ray:users pyproject.toml README.md constraints.tx[t] ./
COPY --chown=ray:users hydra_ray ./hydra_ray
COPY --chown=ray:users configs ./configs
# The cpu variant takes train too: `hydra-ray train` runs its driver on the head (TorchTrainer needs
# torch there), so it gets torch's CPU build from PyTorch's index, not the multi-GB CUDA one.
RUN if [ "$VARIANT" = "gpu" ]; then extras="[train,serve,gpu]"; index=""; \
    else extras="[train,serve]"; index="--extra-index-url https://download.pytorch.org/whl/cpu"; fi \
 && if [ -f constraints.txt ]; then pins="-c constraints.txt"; else pins=""; fi \
 && pip install --no-cache-dir $index $pins ".${extras}" \
 && python -c "import hydra_ray, ray; assert ray.__version__ == '${RAY_VERSION}', ray.__version__; print('hydra-ray', hydra_ray.__version__, 'on Ray', ray.__version__)"
