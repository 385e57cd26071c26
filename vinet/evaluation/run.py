"""One evaluation: the protocol the options ask for, from the registry --protocol offers."""
from vinet.evaluation.crowdsal import CrowdSALProtocol
from vinet.evaluation.options import EvaluationOptions
from vinet.evaluation.protocols import AudioVisualProtocol, DHF1KProtocol, Protocol

# Every protocol by name, the --protocol choices in this order; a new protocol is one more entry here.
PROTOCOLS: dict[str, Protocol] = {protocol.name: protocol
                                  for protocol in (DHF1KProtocol(), AudioVisualProtocol(), CrowdSALProtocol())}


def protocol_of(options: EvaluationOptions) -> Protocol:
    """The protocol asked for; without one, av for an audio-visual set (a dataset named) and dhf1k otherwise."""
    return PROTOCOLS[options.protocol or ("av" if options.dataset else "dhf1k")]


def evaluate(options: EvaluationOptions) -> dict:
    """Score the predictions `options` names by its protocol; writes its outputs and returns the summary.

    >>> summary = evaluate(EvaluationOptions(pred_path="results/dhf1k_val", gt_path="data/DHF1K/annotation",
    ...                                      output="results/dhf1k_val.json"))  # doctest: +SKIP
    """
    protocol = protocol_of(options)
    protocol.refuse_foreign_options(options)
    return protocol.evaluate(options)
