"""Text champions in the hash-chained decision log: each decision appended, the current
champion read back from the log (a text model has no MLflow registered version, so the
log is where the champion is recorded). Callers hold the pipeline's promotion lock."""

from ml_assets.lib.decision_log import Entry, append, read, verify
from ml_assets.lib.refs import TextChampionRef
from resources.audit_store import AuditStoreResource

MODEL_TAG = "text.model_tag"
FAMILY = "text.family"


def current_text_champion(audit: AuditStoreResource, pipeline: str) -> dict[str, str]:
    """The champion after the last recorded decision (model tag, version, family); empty
    before the first promotion. A log that fails verification is refused, by name: a
    champion is never read from a tampered record."""
    path = audit.decision_log(pipeline)
    checked = verify(path)
    if not checked.ok:
        raise ValueError(f"decision log of {pipeline} fails verification: {checked.problem}")
    for entry in reversed(read(path)):
        tag = entry.record.get(MODEL_TAG)
        if tag:
            found = {
                "model_tag": tag,
                "version": entry.record.get("champion_version_after"),
                "family": entry.record.get(FAMILY),
            }
            return {k: str(v) for k, v in found.items() if v}
    return {}


def record_text_decision(audit: AuditStoreResource, champion: TextChampionRef) -> Entry:
    """Append the decision with the champion it leaves (model tag, family, encoder and
    example store version), to the same log and chain as tabular decisions."""
    decision = champion.decision
    record = decision.as_dict() | {
        MODEL_TAG: champion.model_tag,
        FAMILY: champion.family,
        "text.encoder": champion.encoder,
        "text.example_store_version": champion.example_store_version,
    }
    return append(audit.decision_log(decision.pipeline), decision.pipeline, decision.action, record)  # type: ignore[arg-type]
