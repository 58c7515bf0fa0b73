"""The collector's sources: each collects in the background and never breaks the others."""
