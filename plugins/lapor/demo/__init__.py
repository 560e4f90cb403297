"""Sample drop folders for the demo and the tests (see `lapor.demo.generate`)."""
from lapor.demo.generate import DEMO_END, DEMO_START, generate_sample_exports

__all__ = ["DEMO_END", "DEMO_START", "generate_sample_exports"]
