"""Evaluation flows over built objects: the plain pipeline and the flows that are not "predict then
score" (OAT's rollouts and teacher-forced SIM, the search-asymmetry benchmark, 360° success rates).

Every protocol has ``run(*, model, datamodule, out_dir, metrics, …) -> EvaluationResult`` and a
``name``; the result is written by :func:`scanpath.evaluation.report.write_report` (one schema).
Heavy family imports happen only when a protocol is used.
"""

from __future__ import annotations

from typing import Any

from scanpath.evaluation.protocols.plain import PlainProtocol

__all__ = ["AsymmetryProtocol", "LeaderboardProtocol", "OATProtocol", "PlainProtocol", "Success360Protocol"]


def __getattr__(name: str) -> Any:
    if name == "OATProtocol":
        from scanpath.evaluation.protocols.oat import OATProtocol

        return OATProtocol
    if name == "AsymmetryProtocol":
        from scanpath.evaluation.protocols.asymmetry import AsymmetryProtocol

        return AsymmetryProtocol
    if name == "LeaderboardProtocol":
        from scanpath.evaluation.protocols.leaderboard import LeaderboardProtocol

        return LeaderboardProtocol
    if name == "Success360Protocol":
        from scanpath.evaluation.protocols.success360 import Success360Protocol

        return Success360Protocol
    raise AttributeError(name)
