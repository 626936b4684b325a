"""Benchmarks (not tests): measured side by side in one run, printed as ratios, with
instruction counts from callgrind, which are repeatable on a noisy machine."""
