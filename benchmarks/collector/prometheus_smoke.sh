#!/usr/bin/env bash
# End-to-end smoke without the lab: a simulated vLLM server with its built-in load, the collector
# (TLS + basic auth, FAKE GPUs, a probe, the simulator's access log), and a real Prometheus with
# rules/engines.yml, all on 127.0.0.1 with fixed ports 18000/19840/19090. Prints the
# engine-neutral series after ~75 s; exits 1 if one is missing. Every process is time-bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
VENV=${VENV:-$ROOT/.venv}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$WORK/k.pem" -out "$WORK/c.pem" \
  -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
HASH=$("$VENV/bin/python" -c "import bcrypt; print(bcrypt.hashpw(b'smoke', bcrypt.gensalt(10)).decode())")
printf smoke > "$WORK/password"
cat > "$WORK/collector.yml" <<YAML
listen: {address: 127.0.0.1, port: 19840}
tls: {cert_file: $WORK/c.pem, key_file: $WORK/k.pem}
basic_auth: {users: {prometheus: "$HASH"}}
sources:
  nvml: {fake_gpus: 2}
  probes:
    - {name: sim, base_url: "http://127.0.0.1:18000", model: sim-llama-3-8b, engine: vllm, interval_seconds: 5, max_tokens: 8}
  access_logs:
    - {name: gateway, path: $WORK/access.log, state_file: $WORK/offset.json}
  cost: {currency: USD, gpu_hourly_cost: 2.49}
YAML
cat > "$WORK/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
rule_files: [$ROOT/rules/engines.yml]
scrape_configs:
  - job_name: vllm
    static_configs: [{targets: ["127.0.0.1:18000"]}]
  - job_name: citadel-collector
    scheme: https
    tls_config: {ca_file: $WORK/c.pem}
    basic_auth: {username: prometheus, password_file: $WORK/password}
    static_configs: [{targets: ["127.0.0.1:19840"]}]
YAML
"$VENV/bin/citadel-collector" --config "$WORK/collector.yml" --check-config
timeout 150 "$VENV/bin/citadel-model-sim" --port 18000 --access-log "$WORK/access.log" --load-rps 3 --seed 1 \
  --log-level warning & PIDS+=($!)
timeout 150 "$VENV/bin/citadel-collector" --config "$WORK/collector.yml" & PIDS+=($!)
timeout 150 prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address=127.0.0.1:19090 >"$WORK/prometheus.log" 2>&1 & PIDS+=($!)
sleep 75
missing=0
for q in 'model:llm_requests:rate5m{source="engine"}' 'model:llm_requests:rate5m{source="gateway"}' \
         'model:llm_prompt_tokens:rate5m' 'model:llm_generation_tokens:rate5m' \
         'model:llm_time_to_first_token_seconds:p95_5m{source="engine"}' \
         'model:llm_time_to_first_token_seconds:p95_5m{source="probe"}' \
         'model:llm_inter_token_latency_seconds:p95_5m' 'model:llm_e2e_request_latency_seconds:p95_5m' \
         'model:llm_requests_waiting:sum' 'model:llm_requests_running:sum' 'model:llm_kv_cache_usage_ratio:max' \
         'model:llm_probe_success:avg5m' 'tenant:llm_tokens:rate5m' 'citadel_gpu_power_watts'; do
  out=$(curl -s --max-time 5 http://127.0.0.1:19090/api/v1/query --data-urlencode "query=$q")
  n=$(printf '%s' "$out" | "$VENV/bin/python" -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["result"]))')
  printf '%-70s %s series\n' "$q" "$n"
  [ "$n" -gt 0 ] || missing=1
done
exit $missing
