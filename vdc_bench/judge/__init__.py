"""Judge servers for VDCscore: the embedded offline judge (llama-cpp-python + a GGUF from registry
wheels), launchers for vLLM/SGLang, and judge calibration.

Nothing here imports torch; the embedded server runs in its own venv (``.venv-judge``).
"""
