"""Layer ``run``: executing a workflow (step loop, parallel groups, signals, step context).
Internal: the public API is ``invoke_checkpoints``.
"""
