"""The example specs, shipped with the package: ``cdcgen demo`` runs ``vendor.yml``
and ``cdcgen init --example NAME`` copies one out. They are the repository's
``mappings/*.yml``, byte for byte (tests/test_examples.py keeps them so)."""
