"""pnas: Progressive Neural Architecture Search (Liu et al., ECCV 2018) as a tool."""

__version__ = "0.1.0"
