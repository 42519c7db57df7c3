"""One module a CLI command. Each defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``; ``hydra_ray.cli`` discovers them. Heavy imports stay inside ``run``."""
