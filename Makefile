# Citadel monitoring. The two commands: `make lab` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

ROOT          := $(CURDIR)
VENV          := $(ROOT)/.venv
PY            := $(VENV)/bin/python
LABCTL        := $(PY) $(ROOT)/lab/labctl.py
LAB_INVENTORY := inventory/lab
ENV           ?= lab
WHEELS        := /var/cache/citadel-lab/wheels
ANSIBLE_PKG   := $(shell sed -n 's/^ansible==//p' requirements/collections.txt)
# A Grafana .deb for the lab (no package source that carries Grafana is reachable here).
GRAFANA_DEB   ?=

export PATH            := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG  := $(ROOT)/ansible.cfg
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export GRAFANA_DEB

# pytest, with its "no tests collected" (exit 5) reported as the failure it is here: every stage
# that runs pytest must test something.
define pytest
	rc=0; pytest $(1) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make: pytest collected no tests in $(1)" >&2; fi; exit $$rc
endef

.PHONY: help deps venv collections setup lab lab-down lab-status lint unit rules molecule harness e2e test clean dashboards report

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: ## Install the Debian packages the lab and tests need (root)
	@scripts/install_deps.sh

venv: $(VENV)/.stamp ## Create .venv with the pinned tools and the collector package (editable)

$(VENV)/.stamp: requirements/dev.txt requirements/lock.txt collector/pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements/dev.txt -c requirements/lock.txt
	$(PY) -m pip install -q -c requirements/lock.txt -e collector
	@touch $@

collections: collections/.stamp ## Install the pinned collections from the `ansible` wheel (no Galaxy)

collections/.stamp: requirements.yml requirements/collections.txt scripts/install_collections.py $(VENV)/.stamp
	@mkdir -p $(WHEELS)
	@ls $(WHEELS)/ansible-$(ANSIBLE_PKG)-*.whl >/dev/null 2>&1 || \
	  $(PY) -m pip download -q --no-deps -d $(WHEELS) ansible==$(ANSIBLE_PKG)
	$(PY) scripts/install_collections.py $(WHEELS)/ansible-$(ANSIBLE_PKG)-*.whl requirements.yml collections
	@touch $@

setup: deps venv collections ## Everything `make lab` and `make test` need on this machine

lab: setup ## Bring the lab up, deploy site.yml on it, print a health summary
	$(PY) lab/make_vault.py
	$(LABCTL) up --inventory $(LAB_INVENTORY)/hosts.yml
	ANSIBLE_VAULT_PASSWORD_FILE=$(LAB_INVENTORY)/vault-password.txt \
	  ansible-playbook -i $(LAB_INVENTORY) playbooks/lab_model_servers.yml playbooks/site.yml
	$(PY) lab/summary.py --inventory $(LAB_INVENTORY)/hosts.yml

lab-down: ## Remove every lab: hosts, namespaces, bridge, mounts, nft table
	@if [ -x $(PY) ]; then $(LABCTL) down --all; else python3 lab/labctl.py down --all; fi

lab-status: ## List the lab hosts and whether they are up
	$(LABCTL) status --all

lint: ## yamllint, ansible-lint (production profile), ruff
	yamllint -s .
	ansible-lint -q
	ruff check .
	ruff format --check .

unit: ## Unit tests (pytest)
	$(call pytest,tests/unit)

rules: ## promtool: check every rule file and run the rule unit tests
	promtool check rules rules/*.yml
	cd rules/tests && promtool test rules *.test.yml

molecule: ## Every role's Molecule scenarios on lab hosts (roles in parallel: MOLECULE_JOBS=2)
	scripts/molecule_all.sh

harness: ## Tests of the test harness: a broken role must fail its scenario
	$(call pytest,tests/harness)

e2e: ## End-to-end on the lab: site.yml converges, then changed=0, every target up
	$(PY) lab/make_vault.py
	$(call pytest,tests/e2e)

test: ## Everything CI runs: setup, lint, unit, rules, molecule, harness, e2e (with timings)
	scripts/test.sh

dashboards: ## Regenerate the dashboards' JSON from their Python sources (dashboards/)
	$(PY) dashboards/build.py

report: ## The executive report from the snapshot fixture, as reports/report.html
	@mkdir -p reports
	$(PY) dashboards/report.py --snapshot dashboards/fixtures/report-snapshot.json -o reports/report.html

clean: lab-down ## Remove the lab, .venv and installed collections
	rm -rf $(VENV) collections .pytest_cache .ruff_cache
