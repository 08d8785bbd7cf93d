"""``python -m clvlab`` runs the ``clvlab`` command (see :mod:`clvlab.cli`)."""

from clvlab._console import main

if __name__ == "__main__":
    main()
