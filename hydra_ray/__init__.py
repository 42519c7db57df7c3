"""hydra-ray: multi-objective, preference-steered optimisation of Python programs on Ray."""
__version__ = "0.1.0"
