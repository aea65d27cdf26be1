"""The empirical DP check as an audit: the canary audit's lower bound on epsilon against the claim.

The release's canary audit (``synthdata.flow.stages.canary_audit``, ``synthdata.privacy.canary``) trains a
throwaway model with the release's DP configuration on the training units plus planted canary records,
and derives an empirical lower bound on the epsilon that training really gives (Steinke, Nasr & Jagielski
2023, one training run).  This audit reports it: the value is lower bound / claimed training epsilon,
gated at 1 (a lower bound above the claim means, at the stated confidence, that the training does not give
the claimed guarantee).  It applies only when the spec asked for the canary audit (``audits.canaries``).

Reading it: a pass is a sanity check, not a proof; the one-run audit is loose (measured on the demo: lower
bound 0 at a claim of 1 and 0.22-0.27 at a claim of 10) and catches gross failures (training without noise
or clipping reaches 4.4-4.8 against a claim of 1).  The largest epsilon the audit could certify with every guess
right is in the details: a claim above it cannot be contradicted by this audit at all.

Privacy caveat: the canary audit trained on the private data (charged to the ledger); only counts and
bounds are reported, and the audited model was discarded.
"""

from __future__ import annotations

from evaluation.base import Audit, AuditContext, Measurement

KEY = "canary_audit"


class CanaryAudit(Audit):
    """Empirical epsilon lower bound from planted canaries, relative to the claimed training epsilon."""

    name = "privacy.canary_audit"
    category = "privacy"
    title = "Empirical privacy check with planted records (lower bound on ε vs. the claim)"
    explanation = (
        "Tests the training procedure itself: a copy of the model is trained the same way on the real data "
        "plus a thousand artificial 'canary' records, each planted or not by a coin flip, and an attacker then "
        "guesses which canaries were planted. From how many guesses are right, statistics give the smallest "
        "privacy loss ε the training must have. The value is that lower bound divided by the ε this release "
        "claims: at most 1 means the evidence is consistent with the claim; above 1 means the claim is wrong."
    )
    direction = "at_most"
    default_threshold = 1.0
    views = (object,)
    optional = True  # gates only when the spec asked for the canary audit

    def applies_to(self, context: AuditContext) -> bool:
        return KEY in context.extras

    def measure(self, context: AuditContext) -> Measurement:
        record = context.extras[KEY]
        claimed, bound = float(record["claimed_epsilon"]), float(record["empirical_epsilon_lower_bound"])
        details = {
            "claimed_training_epsilon": round(claimed, 4),
            "empirical_epsilon_lower_bound": round(bound, 4),
            "largest_epsilon_this_audit_can_certify": round(float(record["max_certifiable_epsilon"]), 4),
            "confidence": record["confidence"],
            **{k: record[k] for k in ("canaries", "included", "guesses", "correct", "training_units", "delta")},
            "guess_counts_tried": record["guess_counts_tried"],
            "audited_training_epsilon_spent": record.get("training_epsilon_spent"),
            "seconds": round(float(record["seconds"]), 1),
            "method": "one-run auditing (Steinke, Nasr & Jagielski 2023), union bound over the guess counts tried",
        }
        return Measurement(value=bound / claimed, details=details)
