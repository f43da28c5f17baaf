"""Layer ``cli``: the Invoke adapter (``workflow()``, its tasks and flags) and the rendering of
the commands' output. Internal: the public API is ``invoke_checkpoints``.
"""
