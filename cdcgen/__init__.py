"""cdcgen: compile a YAML mapping spec into pure-SQL change data capture for Redshift.

Pipeline: spec -> validate -> plan -> sql -> render -> deploy. The CLI (cdcgen.cli)
sits on top and is never imported by the library.
"""

__version__ = "0.1.0"
