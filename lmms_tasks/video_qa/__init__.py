"""Open-ended video QA tasks scored by the vdc-bench judge (Video-ChatGPT protocol), see metrics.py."""
