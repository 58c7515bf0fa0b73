"""The AI-model-host collector: sources (NVML, model-server probes, logs) and their exposition."""
