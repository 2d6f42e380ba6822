"""Pure groundwork for ``barque build``: Dockerfile parsing and expansion.

``parser`` turns Dockerfile text into instructions with their line ranges;
``shellwords`` expands build variables as moby's shell lexer does. Nothing
is imported here so that each module is loaded only by those who need it.
"""

__all__ = ["parser", "shellwords"]
