"""The studies of cft-pyg: the lab beside the library (not part of the installed package).

``cft_pyg`` never imports this tree.  Run a study from the repository root::

    python -m studies.<study> --help

See ``studies/README.md`` for the kit, the studies, their results and their tests.
"""
