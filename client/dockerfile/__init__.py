"""Pure groundwork for ``barque build``: the Dockerfile and its context.

``parser`` turns Dockerfile text into instructions with their line ranges;
``shellwords`` expands build variables as moby's shell lexer does;
``ignore`` reads and matches ``.dockerignore``. Nothing is imported here so
that each module is loaded only by those who need it.
"""

__all__ = ["ignore", "parser", "shellwords"]
