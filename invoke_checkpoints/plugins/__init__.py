"""Layer ``plugins``: the hook contract (``hookspecs``), the plugin host (``host``, which
registers each plugin through an isolating adapter from ``isolation``) and the built-in plugins
(registered exactly like third-party ones). Internal except ``hookspecs``, re-exported by
``invoke_checkpoints``.
"""
