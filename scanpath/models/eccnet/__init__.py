"""eccNET / IVSN: target-guided visual search with eccentricity-dependent pooling (docs/eccnet.md)."""
