"""Checks of generated Redshift SQL (not rendering): the statement splitter, the parser
checks and cdcgen's own rules (:mod:`cdcgen.check.conformance`), and the typed pass
(:mod:`cdcgen.check.types`). :mod:`cdcgen.render` never imports this package."""
