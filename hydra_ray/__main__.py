"""`python -m hydra_ray …`: the same CLI as `hydra-ray …`."""
import sys

from hydra_ray.cli import main

sys.exit(main())
