"""eccNET / IVSN: target-guided visual search with eccentricity-dependent pooling (specs/eccnet.md)."""
