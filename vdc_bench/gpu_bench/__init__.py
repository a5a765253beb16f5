"""GPU speed benchmark for AuroraCap-7B-shaped models. Needs torch + transformers, not lmms-eval."""
