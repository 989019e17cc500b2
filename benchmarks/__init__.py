"""Benchmarks (not tests): ``python -m benchmarks`` or ``make bench`` runs every
``bench_*.py`` module's ``main()`` and prints each one's table."""
