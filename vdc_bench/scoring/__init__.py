"""VDCscore: concurrent, cached, resumable LLM-judge scoring of VDC captions (never imports torch).

Entry points: ``pipeline.score_captions`` (library), ``lmms_metrics.aggregate_acc/aggregate_score``
(lmms-eval metrics), ``vdc-bench score`` and ``vdc-bench make-qa`` (CLI).
"""
