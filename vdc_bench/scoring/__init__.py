"""VDCscore: concurrent, cached, resumable LLM-judge scoring of VDC captions.

Takes a ready judge endpoint (``judge_settings``); never imports torch and starts no server.
Entry points: ``pipeline.score_captions`` (library), ``vdc-bench score`` and ``vdc-bench make-qa`` (CLI);
lmms-eval reaches it through the VDC task's aggregations (``vdc_bench.lmms_tasks.vdc.metrics``).
"""
