"""The systems the benchmarks compare, one module per family (ours, floors, community, savers, strategies)."""
