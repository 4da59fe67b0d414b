# meibo — make install | make test | make demo | make bench | make soak | make screenshots
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# Debian packages meibo needs at run time and for its tests: PC/SC for the enrollment card
# (pcscd, the vpcd virtual reader, headers and swig to build pyscard), a Japanese font for the
# kiosk, poppler for looking at PDF reports, the network tools for the namespace harness, and
# PostgreSQL (HQ's second store; tooling/pgcluster.py runs its binaries, not the system's cluster),
# etcd for Patroni's failover, the MJ font for names with variation sequences (IVS), and ghostscript +
# zbar-tools to render and decode real ticket barcodes in the scanner tests.
DEB_PACKAGES := swig libpcsclite-dev pcscd vsmartcard-vpcd fonts-ipaexfont-gothic iproute2 nftables poppler-utils postgresql \
	etcd-server fonts-ipamj-mincho ghostscript zbar-tools
STAMP := $(VENV)/.installed

.PHONY: install test demo bench soak screenshots clean deb

install: $(STAMP)

deb:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  [ "$$(dpkg-query -W -f='$${Status}' $$p 2>/dev/null)" = "install ok installed" ] || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "need root to install:$$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(STAMP): pyproject.toml
	@$(MAKE) --no-print-directory deb
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -e '.[test,card,ui,ha]'
	touch $(STAMP)

test: install
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/pytest -q -m "not slow" -p no:cacheprovider

demo: install
	$(VENV)/bin/meibo demo

bench: install
	$(PY) -m bench

soak: install
	$(VENV)/bin/pytest -q -m slow -p no:cacheprovider
	MEIBO_HQ_KILLS=40 MEIBO_TERMINAL_KILLS=100 $(VENV)/bin/pytest -q -p no:cacheprovider tests/integration/test_sigkill_recovery.py
	$(VENV)/bin/meibo sim --seeds 100000

screenshots: install
	SDL_VIDEODRIVER=offscreen $(PY) -m ui_kivy.screenshots docs/screenshots
	SDL_VIDEODRIVER=offscreen $(PY) -m ui_kivy.console.screenshots docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info
