"""``python -m cdcgen``: the ``cdcgen`` console script (so ``python -m cProfile -m cdcgen``
and ``python -X importtime -m cdcgen`` work)."""

from cdcgen.cli import main

if __name__ == "__main__":
    main()
