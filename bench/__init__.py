"""barque's benchmarks (``make bench-pull``: ``python -m bench.pull``)."""

__all__: list[str] = []
