"""Built-in plugins (registered exactly like third-party ones) and the plugin host."""
