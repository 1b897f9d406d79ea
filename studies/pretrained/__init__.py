"""Maintainer tools behind the shipped pretrained models
(``python -m studies.pretrained.build``)."""
