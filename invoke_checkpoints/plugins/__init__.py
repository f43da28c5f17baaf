"""Layer ``plugins``: the hook contract (``hookspecs``), the plugin host and the built-in plugins
(registered exactly like third-party ones). Internal except ``hookspecs``, re-exported by
``invoke_checkpoints``.
"""
