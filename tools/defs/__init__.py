"""Tools declared in a module of their own: declaration, rendering and handlers together.

Each module exports `TOOL` (a `tools.base.Tool`) and registers its handlers with
`@TOOL.handler(kind)`; `tools.catalog` finds every module here, so adding a tool
touches no list. See CONTRIBUTING.md, "Add a tool".
"""
