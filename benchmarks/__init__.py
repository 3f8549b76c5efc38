"""Side-by-side benchmarks: ``python -m benchmarks`` (see ``__main__``)."""
