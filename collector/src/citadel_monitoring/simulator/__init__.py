"""TEST AND DEMO ONLY: a simulated LLM model server and a FAKE NVML library.

`citadel-model-sim` serves an OpenAI-compatible API with streaming, vLLM-format `/metrics`, a
JSON-lines access log and a fault-injection control endpoint, so the lab, the e2e tests and the
analytics have realistic data without GPUs. Production playbooks never deploy it.
"""
