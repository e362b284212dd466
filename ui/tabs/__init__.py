"""One module per tab, each exposing `build(studio) -> kit.Tab`."""
