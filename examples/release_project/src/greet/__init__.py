"""The package this example project builds and releases."""


def greet(name: str) -> str:
    return f"hello, {name}"
