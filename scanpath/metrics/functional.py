"""Functional (batched) forms of every metric. Pair functions take two equally long lists and
return one value per pair; see each module for the definitions.
"""

from scanpath.metrics.behavioural import mean_stats, oat_delta, oat_stats
from scanpath.metrics.clusters import build_clusters, nearest_centre
from scanpath.metrics.conditional import cauc, cig, cnss, task_prior
from scanpath.metrics.geometric import dtw, frechet, haversine_deg, recurrence, stde, tde
from scanpath.metrics.maps import auc_borji, auc_judd, auc_shuffled, cc, density_map, info_gain, kld, nss, sim
from scanpath.metrics.multimatch_scoring import multimatch, multimatch_batch
from scanpath.metrics.search import (
    probability_mismatch,
    scanpath_ratio,
    steps_to_target,
    tfp_auc,
    tfp_curve,
)
from scanpath.metrics.sequence import (
    damerau_levenshtein,
    edit_distance,
    edit_similarity,
    lcs_length,
    levenshtein,
    repeat_by_duration,
    scanmatch_score,
    scanmatch_substitution,
    sequence_score,
    window_edit_distance,
)
from scanpath.metrics.spherical import sphere_dtw, sphere_levenshtein, sphere_multimatch, sphere_recurrence

__all__ = [n for n in dir() if not n.startswith("_")]
