"""Layer ``store``: everything that touches the disk (format models, atomic writes, the lock,
run directories, listing, cleaning, repair). Internal: the public API is ``invoke_checkpoints``.
"""
