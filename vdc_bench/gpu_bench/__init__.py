"""GPU speed benchmark for AuroraCap-7B-shaped models (issue 8). Needs torch + transformers, not lmms-eval."""
