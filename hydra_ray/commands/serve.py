"""`hydra-ray serve`: run the optimizer service (Ray Serve + FastAPI) from a serve preset."""
from __future__ import annotations

HELP = "serve the weight-conditioned optimizer over HTTP (Ray Serve): /v1/optimize, /v1/profile, OpenAI chat"
DESCRIPTION = """Deploy the hydra-ray Serve application described by a serve preset (configs/serve/*.yaml, a Ray
Serve config file: `serve run`/`serve deploy` and clusters/generate.py read the same file) and keep
it running until Ctrl-C. key=value overrides apply to the application's args, e.g.
model.training_output=runs/train-tiny or deployments.generation.num_gpus=0.5.

Routes: POST /v1/optimize, POST /v1/profile, POST /v1/chat/completions, GET /v1/models,
GET /healthz, GET /docs (Swagger UI from cdn.jsdelivr.net; offline, a list of the routes),
GET /openapi.json.

Ray: --ray-address or $RAY_ADDRESS when given (a cluster), else this command's own local Ray, started
only once this machine can listen on the host and port (exit 2 when another service holds the port).

examples:
  hydra-ray serve --config configs/serve/tiny-cpu.yaml model.training_output=runs/train-tiny
  hydra-ray serve --config configs/serve/recorded-demo.yaml --port 8001
  hydra-ray serve --config configs/serve/qwen2.5-coder-7b-gpu.yaml --ray-address auto
"""


def add_arguments(p) -> None:
    p.add_argument("--config", required=True, help="serve preset (configs/serve/*.yaml)")
    p.add_argument("--host", help="HTTP host (default: the preset's http_options.host, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="HTTP port (default: the preset's http_options.port, else 8000)")
    p.add_argument("--ray-address", help="Ray cluster to deploy to, e.g. auto or 10.0.0.5:6379 (default: "
                   "$RAY_ADDRESS, else a new local Ray of this command's own)")
    p.add_argument("--num-cpus", type=int, help="CPUs of the local Ray this command starts")
    p.add_argument("--check", action="store_true",
                   help="validate the preset and the files it names, print the deployment plan, and exit")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="e.g. generation.max_new_tokens=256")


def check(preset_path: str, overrides, local: bool = False, port: int | None = None) -> tuple[object, list[str]]:
    """The loaded preset and problems a deployment would hit (Serve schema, port range, model/recorded
    files; with ``local``, what this node lacks to host the generation replica, e.g. CUDA or vllm for
    backend vllm). ``port``: --port, which replaces the preset's."""
    from hydra_ray.config import ConfigError
    from hydra_ray.serve.config import MODEL_BACKENDS, check_node, load_preset, read_preset_data
    from hydra_ray.serve.config_paths import ModelPathError, effective_conditioning, resolve_data_path, resolve_model
    from hydra_ray.serve.service import port_range_problem

    preset = load_preset(preset_path, overrides)
    problems: list[str] = []
    port_problem = port_range_problem(preset.http()[1] if port is None else port)
    if port_problem:
        problems.append(port_problem)
    try:
        from ray.serve.schema import ServeDeploySchema

        ServeDeploySchema.model_validate(read_preset_data(preset_path, overrides))
    except ValueError as e:
        problems.append(f"not a valid Ray Serve config: {e}")
    args = preset.app.args
    try:
        if args.backend in MODEL_BACKENDS:
            resolve_model(args.model)
        else:
            resolve_data_path(args.recorded.path, "recorded.path")
        if args.reward.labeler:
            resolve_data_path(args.reward.labeler, "reward.labeler")
        effective_conditioning(args)   # the prompt conditioning asked for must match the adapter's
    except (ModelPathError, FileNotFoundError) as e:
        problems.append(str(e))
    if local:
        try:
            check_node(args)
        except ConfigError as e:
            problems.extend(e.problems)
    return preset, problems


def run(args) -> int:
    import json
    import signal
    import sys

    from hydra_ray.serve.app import plan
    from hydra_ray.serve.service import starts_local_ray

    local = starts_local_ray(args.ray_address)
    preset, problems = check(args.config, args.overrides, local=local and not args.check, port=args.port)
    for p in problems:
        print(f"hydra-ray serve: {p}", file=sys.stderr)
    if args.check:
        print(json.dumps({"application": preset.app.name, "route_prefix": preset.app.route_prefix,
                          "http": preset.http(), "backend": preset.app.args.backend,
                          "deployments (on a CPU-only cluster)": plan(preset.app.args, {})}, indent=2))
        return 2 if problems else 0
    if problems:
        return 2

    from hydra_ray.serve.service import PortUnavailable, ServiceStartError, start_service, stop_service

    url = None
    try:
        url = start_service(preset, host=args.host, port=args.port, ray_address=args.ray_address,
                            num_cpus=args.num_cpus)
        print(f"hydra-ray serve: ready at {url}  (POST {url}v1/optimize, docs {url}docs); Ctrl-C stops it",
              flush=True)
        signal.pause()
    except KeyboardInterrupt:   # Ctrl-C, or SIGTERM (the CLI's handler raises a KeyboardInterrupt too)
        if url is None:
            raise   # while starting: the CLI says it was interrupted (130, 143 for SIGTERM)
    except PortUnavailable as e:
        print(f"hydra-ray serve: {e}", file=sys.stderr)
        return 2
    except ServiceStartError as e:
        print(f"hydra-ray serve: {e}", file=sys.stderr)
        return 1
    finally:
        stop_service()
        if url:
            print("hydra-ray serve: stopped", flush=True)
    return 0
